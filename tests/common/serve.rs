//! A `brook serve` child process for the tests that drive the real binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

pub const BROOK: &str = env!("CARGO_BIN_EXE_brook");

/// Runs `brook ARGS` to completion with `stdin`: (exit status 0, stdout, stderr).
pub fn run_brook(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BROOK)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Server {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `brook serve` on a free port; it prints `… listening on ADDR` once ready.
pub fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BROOK)
        .args(["serve", "--set", "listeners=127.0.0.1:0", "--set"])
        .arg(format!("log.dirs={}", dir.path().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|_| line.contains("listening on"))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Server {
        child,
        addr,
        _dir: dir,
    }
}
