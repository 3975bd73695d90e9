//! `scripts/secret-guard`: each rule catches a planted violation, and allowed places pass.

use std::path::Path;
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/secret-guard");

/// A token-shaped value, assembled at run time so this file holds no such literal.
fn fake_token() -> String {
    format!(
        "{}.{}.{}",
        "M".to_owned() + &"T".repeat(25),
        "Gx0a1b",
        "z".repeat(38)
    )
}

fn tree(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}

fn guard(dir: &Path) -> (bool, String) {
    let out = Command::new("bash").arg(SCRIPT).arg(dir).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn clean_files() -> Vec<(&'static str, String)> {
    vec![
        ("src/actors/worker.rs", "pub fn work() {}\n".into()),
        (
            "src/sim/gateway.rs",
            "use twilight_model::gateway::OpCode;\n".into(),
        ),
        (
            "src/providers/discord/normalize.rs",
            "use twilight_model::channel::Message;\n".into(),
        ),
        (
            "src/vault/policy.rs",
            "// DISCORD_TOKEN is leased only here\n".into(),
        ),
        (
            "config/providers.yml",
            "bot_token: ${DISCORD_TOKEN_DUCK}\n".into(),
        ),
        ("tests/fixtures/fake-tokens/token.txt", fake_token()),
    ]
}

#[test]
fn a_clean_tree_passes() {
    let dir = tree(&clean_files());
    let (ok, text) = guard(dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("secret-guard: clean"), "{text}");
}

#[test]
fn rule_1_catches_a_token_literal() {
    let mut files = clean_files();
    files.push((
        "src/model/oops.rs",
        format!("const T: &str = \"{}\";\n", fake_token()),
    ));
    let dir = tree(&files);
    let (ok, text) = guard(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("src/model/oops.rs:1: rule 1"), "{text}");
    assert_eq!(
        text.matches("rule ").count(),
        1,
        "only the planted violation: {text}"
    );
}

#[test]
fn rule_2_catches_a_secret_name_outside_the_allowlist() {
    let mut files = clean_files();
    files.push((
        "src/actors/worker_pool.rs",
        "\n\nlet t = env(\"CLIENT_SECRET\");\n".into(),
    ));
    let dir = tree(&files);
    let (ok, text) = guard(dir.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("src/actors/worker_pool.rs:3: rule 2"),
        "{text}"
    );
    assert_eq!(text.matches("rule ").count(), 1, "{text}");
}

#[test]
fn rule_3_catches_twilight_in_a_worker() {
    let mut files = clean_files();
    files.push((
        "src/actors/worker.rs",
        "use twilight_http::Client;\n".into(),
    ));
    let dir = tree(&files);
    let (ok, text) = guard(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("src/actors/worker.rs:1: rule 3"), "{text}");
    assert_eq!(text.matches("rule ").count(), 1, "{text}");
}

#[test]
fn the_repository_itself_is_clean() {
    let (ok, text) = guard(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(ok, "{text}");
}
