//! `${VAR}` interpolation over a parsed YAML tree.
//!
//! Interpolation runs on the tree, not the text, so a value can never inject YAML
//! structure, and every unset variable is reported with the field path that used it.
//! `$${` writes a literal `${`. Secret fields are also checked here for strict mode:
//! there they must be a `${VAR}` reference, never a plaintext value.

use serde_yaml_ng::Value;

/// Where `${NAME}` references were found unresolved, or other interpolation problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpolationIssue {
    pub(crate) path: String,
    pub(crate) message: String,
}

/// Whether `s` is exactly one `${VAR}` reference.
pub(crate) fn is_reference(s: &str) -> bool {
    s.strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(valid_var_name)
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Expands the references in one string. Returns the issues found; unresolved
/// references are left in place.
pub(crate) fn expand(
    s: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<InterpolationIssue>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                issues.push(InterpolationIssue {
                    path: path.to_owned(),
                    message: "unterminated ${...} reference (expected ${NAME})".to_owned(),
                });
                out.push_str(after);
                return out;
            };
            let name = &tail[..end];
            if !valid_var_name(name) {
                issues.push(InterpolationIssue {
                    path: path.to_owned(),
                    message: format!(
                        "invalid variable name {name:?} in ${{...}} (expected letters, digits and '_')"
                    ),
                });
                out.push_str(&after[..end + 3]);
            } else if let Some(value) = env(name) {
                out.push_str(&value);
            } else {
                issues.push(InterpolationIssue {
                    path: path.to_owned(),
                    message: format!("environment variable {name} is not set"),
                });
                out.push_str(&after[..end + 3]);
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Walks `value`, expanding every string scalar. `path` is the field path of `value`.
pub(crate) fn interpolate(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<InterpolationIssue>,
) {
    match value {
        Value::String(s) => {
            if s.contains('$') {
                let expanded = expand(s, path, env, issues);
                secrecy::zeroize::Zeroize::zeroize(s);
                *s = expanded;
            }
        }
        Value::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), env, issues);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                interpolate(v, &child, env, issues);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, env, issues),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Overwrites every string in the tree with zeros, so plaintext secrets that passed
/// through the YAML tree do not linger in freed memory.
pub(crate) fn scrub(value: &mut Value) {
    match value {
        Value::String(s) => secrecy::zeroize::Zeroize::zeroize(s),
        Value::Sequence(seq) => seq.iter_mut().for_each(scrub),
        Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| scrub(v)),
        Value::Tagged(tagged) => scrub(&mut tagged.value),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "B_2" => Some("beta".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_and_escapes() {
        let mut issues = vec![];
        assert_eq!(
            expand("x-${A}-${B_2}", "p", &env, &mut issues),
            "x-alpha-beta"
        );
        assert_eq!(
            expand("$${A} costs $5", "p", &env, &mut issues),
            "${A} costs $5"
        );
        assert!(issues.is_empty());
    }

    #[test]
    fn reports_unset_and_malformed() {
        let mut issues = vec![];
        assert_eq!(expand("${NOPE}", "a.b", &env, &mut issues), "${NOPE}");
        expand("${A", "a.c", &env, &mut issues);
        expand("${1X}", "a.d", &env, &mut issues);
        let msgs: Vec<_> = issues
            .iter()
            .map(|i| (i.path.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(msgs[0], ("a.b", "environment variable NOPE is not set"));
        assert_eq!(msgs[1].0, "a.c");
        assert!(msgs[1].1.contains("unterminated"));
        assert_eq!(msgs[2].0, "a.d");
        assert!(msgs[2].1.contains("invalid variable name"));
    }

    #[test]
    fn reference_detection() {
        assert!(is_reference("${BOT_TOKEN_DUCK}"));
        assert!(!is_reference("plain"));
        assert!(!is_reference("x${A}"));
        assert!(!is_reference("${}"));
    }
}
