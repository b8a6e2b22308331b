//! The binary's offline commands: `check` names the file, line and field of a problem;
//! `keygen` prints a secret the config accepts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

fn anteroom(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run anteroom");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = anteroom_testkit::unique_temp_dir("anteroom-cli");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

const VALID: &str = r#"[keys]
signing = "k1"
secrets = { k1 = "0123456789abcdef0123456789abcdef-cli" }

[[room]]
id = "tour"
origin = "127.0.0.1:3000"
paths = ["/tour"]
"#;

#[test]
fn check_accepts_a_valid_config() {
    let path = write_config("ok.toml", VALID);
    let (ok, out, err) = anteroom(&["check", "--config", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("OK") && out.contains("1 room"), "{out}");
}

#[test]
fn check_names_file_line_and_field() {
    let bad = VALID.replace(
        "paths = [\"/tour\"]",
        "paths = [\"/tour\"]\nmode = \"fast\"",
    );
    let path = write_config("bad.toml", &bad);
    let (ok, _, err) = anteroom(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    let expected_prefix = format!("{}:9:", path.display());
    assert!(err.starts_with(&expected_prefix), "{err}");
    assert!(
        err.contains("room[0].mode") && err.contains("queue-all"),
        "{err}"
    );
}

#[test]
fn keygen_prints_a_secret_the_config_accepts() {
    let (ok, out, _) = anteroom(&["keygen"]);
    assert!(ok);
    let secret = out.trim();
    assert!(secret.len() >= 32, "{secret}");
    let (_, again, _) = anteroom(&["keygen"]);
    assert_ne!(secret, again.trim(), "every secret is new");
    let config = VALID.replace("0123456789abcdef0123456789abcdef-cli", secret);
    let path = write_config("keygen.toml", &config);
    let (ok, _, err) = anteroom(&["check", "--config", path.to_str().unwrap()]);
    assert!(ok, "{err}");
}

#[test]
fn check_reports_every_error_in_the_file_at_once() {
    let bad = VALID
        .replace(
            "paths = [\"/tour\"]",
            "paths = [\"/tour;Domain=evil\"]\nmode = \"fast\"",
        )
        .replace("[keys]", "[listen]\npublic = \"nowhere\"\n\n[keys]");
    let path = write_config("several.toml", &bad);
    let (ok, _, err) = anteroom(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    let located: Vec<&str> = err
        .lines()
        .filter(|line| line.starts_with(&format!("{}:", path.display())))
        .collect();
    assert!(located.len() >= 3, "expected three located errors:\n{err}");
    for field in ["listen.public", "room[0].paths", "room[0].mode"] {
        assert!(
            located.iter().any(|line| line.contains(field)),
            "{field} missing:\n{err}"
        );
    }
}

/// `check` loads the TLS pair: a key that does not belong to the certificate is reported
/// (the config crate alone sees only two PEM files of the right kinds).
#[test]
fn check_loads_the_tls_pair_and_reports_a_key_of_another_certificate() {
    let (one, other) = (
        anteroom_testkit::TestCertificates::generate(),
        anteroom_testkit::TestCertificates::generate(),
    );
    let with_pair = |cert: &std::path::Path, key: &std::path::Path| {
        format!(
            "[listen]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n{VALID}",
            cert.display(),
            key.display()
        )
    };
    let path = write_config("tls.toml", &with_pair(&one.cert, &one.key));
    let (ok, _, err) = anteroom(&["check", "--config", path.to_str().unwrap()]);
    assert!(ok, "{err}");

    let path = write_config("mismatch.toml", &with_pair(&one.cert, &other.key));
    let (ok, _, err) = anteroom(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("listen.tls_key") && err.contains("does not belong"),
        "{err}"
    );
}
