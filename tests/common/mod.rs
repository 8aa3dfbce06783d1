//! Shared helpers for the end-to-end tests: each test gets a fresh temporary folder, the
//! test keys copied into it with mode 0600, and runs the real `depositary` binary there.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's `fixtures/` folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A temporary working folder with the test keys installed.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            self.stderr
        );
        self
    }

    /// Expects success.
    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.expect_code(0)
    }
}

impl Env {
    /// A fresh folder with `root.pem`, `registrar.pem`, `second-root.pem` (mode 0600) and
    /// their `.pub.pem` files.
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temporary folder");
        for name in ["root", "registrar", "second-root"] {
            let secret = dir.path().join(format!("{name}.pem"));
            std::fs::copy(
                fixtures().join(format!("keys/TEST-ONLY-{name}.secret.pem")),
                &secret,
            )
            .expect("copy test key");
            set_mode(&secret, 0o600);
            std::fs::copy(
                fixtures().join(format!("keys/TEST-ONLY-{name}.pub.pem")),
                dir.path().join(format!("{name}.pub.pem")),
            )
            .expect("copy public key");
        }
        Env { dir }
    }

    /// A path inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The default ledger of the folder.
    pub fn ledger(&self) -> PathBuf {
        self.path("ledger.db")
    }

    /// Runs `depositary ARGS` in the folder, with `--ledger` pointing at `ledger.db`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None)
    }

    /// Runs `depositary ARGS` with `stdin` as standard input.
    pub fn run_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        use std::io::Write as _;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_depositary"));
        cmd.current_dir(self.dir.path())
            .env("DEPOSITARY_LEDGER", self.ledger())
            .env_remove("RUST_BACKTRACE")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdin(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        if let Some(input) = stdin {
            let _ = child.stdin.take().expect("stdin").write_all(input);
        }
        drop(child.stdin.take());
        Run::from(child.wait_with_output().expect("the binary ends"))
    }

    /// Creates `ledger.db` from the treaty file `treaty` (relative to `fixtures/`),
    /// recorded at `at`, signed by the root key.
    pub fn init(&self, treaty: &str, at: &str) {
        let treaty = fixtures().join(treaty);
        self.run(&[
            "init",
            "--treaty",
            treaty.to_str().expect("utf-8 path"),
            "--key",
            "root.pem",
            "--recorded-at",
            at,
        ])
        .ok();
    }

    /// Imports the known-answer vector ledger (13 entries, `fixtures/vectors`) as `ledger.db`.
    pub fn import_vectors(&self) {
        let export = fixtures().join("vectors/ledger.jsonl");
        self.run(&["import", export.to_str().expect("utf-8 path")])
            .ok();
    }

    /// Writes a file in the folder.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).expect("write file");
        p
    }
}

/// Sets a file's permission bits.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The JSON a run printed on standard output.
#[track_caller]
pub fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout))
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator, good enough for the
/// schedules of the crash and concurrency tests.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
