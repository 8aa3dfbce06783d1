//! Measuring: child processes timed from outside (wall time and peak resident memory), and
//! the cryptographic references measured in-process on the same data.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use depositary_core::ParsedEntry;

/// What one child process took.
#[derive(Debug, Clone, Copy)]
pub struct ChildRun {
    /// Wall time, from spawn to exit.
    pub wall: Duration,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: u64,
}

/// Runs `depositary ARGS` (this executable in its `--as-depositary` mode, which runs the
/// binary's exact code) through a watcher process that reports its wall time and peak
/// memory. The command must exit 0.
pub fn depositary(args: &[&str]) -> Result<ChildRun> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .arg("--watch")
        .arg("--as-depositary")
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let report = String::from_utf8_lossy(&out.stderr);
    let last = report.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last
        .strip_prefix("watch: ")
        .unwrap_or_default()
        .split(' ')
        .collect();
    let [code, nanos, rss] = fields[..] else {
        bail!("the watcher said: {report}");
    };
    if code != "0" {
        bail!(
            "depositary {} exited with {code}:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            report
        );
    }
    Ok(ChildRun {
        wall: Duration::from_nanos(nanos.parse()?),
        max_rss_kib: rss.parse()?,
    })
}

/// The watcher: runs this executable with `args` as a child, then reports on standard error
/// `watch: EXIT_CODE WALL_NANOS MAX_RSS_KIB` (the peak of its only child).
pub fn watch(args: &[String]) -> Result<()> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let status = Command::new(&exe)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let wall = started.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    // Linux reports ru_maxrss in KiB.
    eprintln!(
        "watch: {} {} {}",
        status.code().unwrap_or(-1),
        wall.as_nanos(),
        usage.max_rss()
    );
    Ok(())
}

/// The median of `runs` runs of `depositary ARGS`.
pub fn median_of(runs: usize, args: &[&str]) -> Result<ChildRun> {
    let all = (0..runs.max(1))
        .map(|_| depositary(args))
        .collect::<Result<Vec<_>>>()?;
    median_run(all)
}

/// The run of median wall time (of an odd number of runs, the middle one).
pub fn median_run(mut runs: Vec<ChildRun>) -> Result<ChildRun> {
    runs.sort_by_key(|r| r.wall);
    runs.get(runs.len() / 2)
        .copied()
        .ok_or_else(|| anyhow!("no run"))
}

/// The signatures of an export: messages, signatures and keys, as batch verification takes
/// them.
pub struct Signatures {
    messages: Vec<Vec<u8>>,
    sigs: Vec<ed25519_dalek::Signature>,
    keys: Vec<ed25519_dalek::VerifyingKey>,
}

impl Signatures {
    /// Reads every entry of an export.
    pub fn of_export(path: &Path) -> Result<Signatures> {
        let text = std::fs::read(path)?;
        let mut s = Signatures {
            messages: Vec::new(),
            sigs: Vec::new(),
            keys: Vec::new(),
        };
        let mut keys = std::collections::HashMap::new();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let p = ParsedEntry::parse(line)?;
            let e = p.entry();
            let key = keys
                .entry(e.signer)
                .or_insert_with(|| depositary_core::keys::check_public(e.signer))
                .clone();
            s.keys.push(key?);
            s.sigs
                .push(ed25519_dalek::Signature::from_bytes(e.sig.as_bytes()));
            s.messages.push(p.signed_message());
        }
        Ok(s)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.sigs.len()
    }

    /// Ed25519 batch verification of all of them, in batches of `batch`, on `threads`
    /// threads: signatures per second.
    pub fn batch_verify_rate(&self, threads: usize, batch: usize) -> Result<f64> {
        let n = self.len();
        let per = n.div_ceil(threads.max(1)).max(1);
        let started = Instant::now();
        let ok = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .step_by(per)
                .map(|from| {
                    let to = (from + per).min(n);
                    scope.spawn(move || {
                        let mut all_ok = true;
                        for start in (from..to).step_by(batch.max(1)) {
                            let end = (start + batch).min(to);
                            let msgs: Vec<&[u8]> = self.messages[start..end]
                                .iter()
                                .map(Vec::as_slice)
                                .collect();
                            all_ok &= ed25519_dalek::verify_batch(
                                &msgs,
                                &self.sigs[start..end],
                                &self.keys[start..end],
                            )
                            .is_ok();
                        }
                        all_ok
                    })
                })
                .collect();
            handles.into_iter().all(|h| h.join().unwrap_or(false))
        });
        let elapsed = started.elapsed();
        if !ok {
            bail!("batch verification failed on the benchmark's own ledger");
        }
        Ok(n as f64 / elapsed.as_secs_f64())
    }

    /// Ed25519 signing of the first `count` messages on one core: signatures per second.
    pub fn signing_rate(&self, count: usize) -> f64 {
        let key = depositary_core::SecretKey::from_seed(&[7; 32]);
        let count = count.min(self.len()).max(1);
        let started = Instant::now();
        let mut sink = 0u8;
        for m in &self.messages[..count] {
            sink ^= key.sign(m).as_bytes()[0];
        }
        std::hint::black_box(sink);
        count as f64 / started.elapsed().as_secs_f64()
    }
}
