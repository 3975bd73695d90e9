//! Loading a registry: read, parse, check strict-mode secrets, interpolate `${VAR}`,
//! deserialize section by section, merge `tenants_dir`, validate.
//!
//! Each section (the runtime, each tenant) is deserialized on its own and every unknown
//! field is collected, so one run reports every problem in the file rather than the
//! first one serde meets.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::error::{ConfigError, Issues};
use super::interpolate::{interpolate, is_reference, scrub};
use super::registry::{RawTenant, Registry, RuntimeConfig, TenantConfig};
use super::validate;
use crate::model::DEFAULT_NAMESPACE;

/// Looks an environment variable up.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to load a registry.
#[derive(Clone)]
pub struct LoadOptions {
    /// Resolve `${VAR}` from the environment (`false` is `check-config --no-env`:
    /// references stay as written and unset variables are not errors).
    pub resolve_env: bool,
    /// Require `${VAR}` references for every secret, whatever `runtime.strict` says.
    pub strict: bool,
    /// Where variables come from; the process environment by default. Tests inject
    /// their own (setting process variables is unsafe in a threaded program).
    pub env: EnvLookup,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            resolve_env: true,
            strict: false,
            env: Arc::new(|name| std::env::var(name).ok()),
        }
    }
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("resolve_env", &self.resolve_env)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Loads and validates a registry file with the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem found.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::load_with(path, &LoadOptions::default())
    }

    /// Loads and validates a registry file.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem found.
    pub fn load_with(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let mut issues = Issues::default();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                issues.push(path, "", format!("cannot read file: {e}"));
                return Err(ConfigError {
                    issues: issues.list,
                });
            }
        };
        Self::from_yaml_str(&text, path, opts)
    }

    /// Loads and validates a registry from YAML text; `source` names it in errors and
    /// anchors a relative `tenants_dir`.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem found.
    pub fn from_yaml_str(
        text: &str,
        source: impl AsRef<Path>,
        opts: &LoadOptions,
    ) -> Result<Self, ConfigError> {
        let source = source.as_ref();
        let mut issues = Issues::default();
        let Some(mut root) = parse(text, source, &mut issues) else {
            return Err(ConfigError {
                issues: issues.list,
            });
        };
        let Value::Mapping(map) = &mut root else {
            issues.push(
                source,
                "",
                "expected a mapping with namespace, runtime and providers",
            );
            return Err(ConfigError {
                issues: issues.list,
            });
        };

        let strict = opts.strict
            || map
                .get("runtime")
                .and_then(|r| r.get("strict"))
                .and_then(Value::as_bool)
                .unwrap_or(false);

        let mut namespace = None;
        let mut runtime_value = None;
        let mut providers = Vec::new();
        for (key, value) in std::mem::take(map) {
            match key.as_str() {
                Some("namespace") => namespace = Some(value),
                Some("runtime") => runtime_value = Some(value),
                Some("providers") => match value {
                    Value::Sequence(seq) => providers = seq,
                    Value::Null => {}
                    _ => issues.push(source, "providers", "expected a list of tenants"),
                },
                _ => issues.push(
                    source,
                    key_name(&key),
                    "unknown field (expected namespace, runtime or providers)",
                ),
            }
        }

        let namespace = match namespace {
            None | Some(Value::Null) => DEFAULT_NAMESPACE.to_owned(),
            Some(Value::String(s)) => s,
            Some(_) => {
                issues.push(source, "namespace", "expected a string");
                DEFAULT_NAMESPACE.to_owned()
            }
        };

        let mut runtime = runtime_value.map_or_else(
            || Some(RuntimeConfig::default()),
            |mut v| {
                resolve(&mut v, "runtime", source, opts, &mut issues);
                section::<RuntimeConfig>(&v, "runtime", source, &mut issues)
            },
        );

        let mut raw_tenants: Vec<(PathBuf, String, RawTenant)> = Vec::new();
        for (i, mut entry) in providers.into_iter().enumerate() {
            let path = format!("providers[{i}]");
            check_strict(&entry, &path, source, strict, &mut issues);
            resolve(&mut entry, &path, source, opts, &mut issues);
            if let Some(t) = section::<RawTenant>(&entry, &path, source, &mut issues) {
                raw_tenants.push((source.to_owned(), path, t));
            }
            scrub(&mut entry);
        }

        if let Some(rt) = runtime.as_mut()
            && let Some(dir) = rt.tenants_dir.clone()
        {
            let dir = if dir.is_relative() {
                source.parent().unwrap_or(Path::new(".")).join(dir)
            } else {
                dir
            };
            rt.tenants_dir = Some(dir.clone());
            load_tenants_dir(&dir, strict, opts, &mut issues, &mut raw_tenants);
        }

        let runtime = runtime.unwrap_or_default();
        validate::namespace(&namespace, source, &mut issues);
        validate::runtime(&runtime, source, opts, &mut issues);
        let tenants = finish_tenants(raw_tenants, opts, &mut issues);

        issues.into_result(Registry {
            namespace,
            runtime,
            tenants,
            source: source.to_owned(),
        })
    }
}

impl Registry {
    /// This registry with tenants added from the cluster's shared registry:
    /// `documents` are `(label, YAML of one tenant)` pairs, parsed like files in
    /// `tenants_dir` (the label names them in errors). Secrets in them must be
    /// `${VAR}` references — a document in Redis holds no secret.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem, e.g. a tenant defined twice.
    pub fn with_tenant_documents(
        mut self,
        documents: &[(String, String)],
        opts: &LoadOptions,
    ) -> Result<Self, ConfigError> {
        let mut issues = Issues::default();
        let mut raw = Vec::new();
        for (label, text) in documents {
            let file = PathBuf::from(label);
            let Some(mut value) = parse(text, &file, &mut issues) else {
                continue;
            };
            check_strict(&value, "", &file, true, &mut issues);
            resolve(&mut value, "", &file, opts, &mut issues);
            if let Some(t) = section::<RawTenant>(&value, "", &file, &mut issues) {
                raw.push((file.clone(), String::new(), t));
            }
            scrub(&mut value);
        }
        let added = finish_tenants(raw, opts, &mut issues);
        for t in added {
            if self.tenants.iter().any(|x| x.id() == t.id()) {
                issues.push(
                    &t.source,
                    "",
                    format!(
                        "duplicate tenant {} (also in {})",
                        t.id(),
                        self.source.display()
                    ),
                );
            } else {
                self.tenants.push(t);
            }
        }
        issues.into_result(self)
    }
}

/// Rejects duplicate provider/tenant pairs (naming both places) and validates the rest.
fn finish_tenants(
    raw_tenants: Vec<(PathBuf, String, RawTenant)>,
    opts: &LoadOptions,
    issues: &mut Issues,
) -> Vec<TenantConfig> {
    let mut tenants = Vec::new();
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for (file, path, raw) in raw_tenants {
        let key = (raw.provider.clone(), raw.tenant.clone());
        let here = format!("{}: {path}", file.display());
        if let Some(first) = seen.get(&key) {
            issues.push(
                &file,
                &path,
                format!(
                    "duplicate tenant {}/{} (first defined at {first})",
                    key.0, key.1
                ),
            );
            continue;
        }
        seen.insert(key, here);
        if let Some(t) = validate::tenant(raw, &file, &path, opts, issues) {
            tenants.push(t);
        }
    }
    tenants
}

fn parse(text: &str, source: &Path, issues: &mut Issues) -> Option<Value> {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let at = e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            issues.push(source, at, format!("not valid YAML: {e}"));
            None
        }
    }
}

fn key_name(key: &Value) -> String {
    key.as_str()
        .map_or_else(|| format!("{key:?}"), str::to_owned)
}

fn resolve(value: &mut Value, path: &str, file: &Path, opts: &LoadOptions, issues: &mut Issues) {
    if !opts.resolve_env {
        return;
    }
    let mut found = Vec::new();
    interpolate(value, path, &*opts.env, &mut found);
    for f in found {
        issues.push(file, f.path, f.message);
    }
}

/// Strict mode: credentials and app secrets must be `${VAR}` references.
fn check_strict(entry: &Value, path: &str, file: &Path, strict: bool, issues: &mut Issues) {
    if !strict {
        return;
    }
    let mut check = |field: String, v: &Value| {
        if let Value::String(s) = v
            && !is_reference(s)
        {
            issues.push(
                file,
                field,
                "plaintext secret; strict mode requires a ${VAR} reference",
            );
        }
    };
    if let Some(Value::Mapping(creds)) = entry.get("credentials") {
        for name in ["bot_token", "client_secret"] {
            if let Some(v) = creds.get(name) {
                check(format!("{path}.credentials.{name}"), v);
            }
        }
    }
    if let Some(Value::Mapping(secrets)) = entry.get("secrets") {
        for (k, v) in secrets {
            check(format!("{path}.secrets.{}", key_name(k)), v);
        }
    }
}

/// Deserializes one section, collecting unknown fields and the first type error.
fn section<T: DeserializeOwned>(
    value: &Value,
    base: &str,
    file: &Path,
    issues: &mut Issues,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result: Result<T, _> = {
        let de = serde_path_to_error::Deserializer::new(value, &mut track);
        serde_ignored::deserialize(de, |p| unknown.push(ignored_path(&p)))
    };
    for u in unknown {
        issues.push(file, join(base, &u), "unknown field");
    }
    match result {
        Ok(t) => Some(t),
        Err(e) => {
            let at = track.path().to_string();
            let at = if at == "." { String::new() } else { at };
            issues.push(file, join(base, &at), e.to_string());
            None
        }
    }
}

fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => base.to_owned(),
        _ if rest.starts_with('[') => format!("{base}{rest}"),
        _ => format!("{base}.{rest}"),
    }
}

/// Formats a `serde_ignored` path as `a.b[0].c`.
fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                let mut s = parent;
                let _ = write!(s, ".{key}");
                s
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn load_tenants_dir(
    dir: &Path,
    strict: bool,
    opts: &LoadOptions,
    issues: &mut Issues,
    out: &mut Vec<(PathBuf, String, RawTenant)>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A missing folder holds no tenants yet; the admin API creates it on first write.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            issues.push(dir, "", format!("cannot read tenants_dir: {e}"));
            return;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                issues.push(&file, "", format!("cannot read file: {e}"));
                continue;
            }
        };
        let Some(mut value) = parse(&text, &file, issues) else {
            continue;
        };
        check_strict(&value, "", &file, strict, issues);
        resolve(&mut value, "", &file, opts, issues);
        if let Some(t) = section::<RawTenant>(&value, "", &file, issues) {
            out.push((file.clone(), String::new(), t));
        }
        scrub(&mut value);
    }
}
