//! `switchboard check-config` as a process: exit codes and what it prints.

use std::process::Command;

fn check_config(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check-config")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run switchboard");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn shipped_configs_pass_with_no_env() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let (code, text) = check_config(&["--no-env", path.to_str().unwrap()], &[]);
            assert_eq!(code, 0, "{}: {text}", path.display());
            assert!(text.contains(": ok ("), "{text}");
        }
    }
}

#[test]
fn bad_config_exits_non_zero_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    std::fs::write(
        &file,
        "runtime:\n  wrokers: 2\nproviders:\n  - { provider: discord, tenant: duck, credentials: { bot_token: '${UNSET_TOKEN_VAR}' } }\n  - { provider: discord, tenant: duck, credentials: { bot_token: x } }\n",
    )
    .unwrap();
    let (code, text) = check_config(&[file.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("runtime.wrokers: unknown field"), "{text}");
    assert!(text.contains("duplicate tenant discord/duck"), "{text}");
    assert!(
        text.contains("environment variable UNSET_TOKEN_VAR is not set"),
        "{text}"
    );
    assert!(text.contains("(3 problems)"), "{text}");

    // The same file with the variable supplied has two problems left.
    let (code, text) = check_config(&[file.to_str().unwrap()], &[("UNSET_TOKEN_VAR", "x")]);
    assert_eq!(code, 1);
    assert!(text.contains("(2 problems)"), "{text}");
}

#[test]
fn an_exposed_admin_api_without_a_token_is_reported_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exposed.yml");
    std::fs::write(
        &file,
        "runtime:\n  admin: { listen: '0.0.0.0:7878' }\nproviders: []\n",
    )
    .unwrap();
    let (code, text) = check_config(&["--no-env", file.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("runtime.admin.listen: 0.0.0.0:7878 is not a loopback address"),
        "{text}"
    );
    std::fs::write(
        &file,
        "runtime:\n  admin: { listen: '0.0.0.0:7878', token_env: ADMIN_TOK }\nproviders: []\n",
    )
    .unwrap();
    let (code, text) = check_config(&[file.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("runtime.admin.token_env: environment variable ADMIN_TOK is not set"),
        "{text}"
    );
    let (code, text) = check_config(&[file.to_str().unwrap()], &[("ADMIN_TOK", "t")]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn strict_flag_rejects_plaintext_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.yml");
    std::fs::write(
        &file,
        "providers:\n  - { provider: discord, tenant: duck, credentials: { bot_token: plaintext } }\n",
    )
    .unwrap();
    assert_eq!(check_config(&[file.to_str().unwrap()], &[]).0, 0);
    let (code, text) = check_config(&["--strict", file.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("strict mode requires a ${VAR} reference"),
        "{text}"
    );
    assert!(
        !text.contains("plaintext\n") && !text.contains("\"plaintext\""),
        "the value itself is never printed: {text}"
    );
}

#[test]
fn commands_the_handlers_do_not_declare_are_reported_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cmds.yml");
    std::fs::write(
        &file,
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: x }\n    handlers: [ping]\n    commands: { scope: global, only: [ping, gmae] }\n  - provider: discord\n    tenant: goose\n    credentials: { bot_token: y }\n    commands: { scope: guilds }\n",
    )
    .unwrap();
    let (code, text) = check_config(&[file.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("providers[1].commands.scope: `guilds` registers to each guild allow.guilds lists, but it is \"*\""),
        "{text}"
    );
    std::fs::write(
        &file,
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: x }\n    handlers: [ping]\n    commands: { scope: global, only: [ping, gmae] }\n",
    )
    .unwrap();
    let (code, text) = check_config(&[file.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("discord/duck: commands.only[1]: no handler of this tenant declares a command \"gmae\" (declared: ping)"),
        "{text}"
    );
}
