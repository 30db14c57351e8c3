//! Helpers for the integration tests: temp repositories, the real oracle binaries
//! (restic, rustic), tricky source trees, and a tree comparison that checks content and
//! metadata.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PASSWORD: &str = "correct horse battery staple";

/// Finds an oracle binary on PATH or in ~/.cargo/bin; fails naming the setup script.
pub fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/setup (it installs every tool the tests need)");
}

pub fn bunker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bunker"))
}

/// A temporary directory that holds a repository and whatever the test makes.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("bunker-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn repo(&self) -> PathBuf {
        self.path("repo")
    }
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs bunker against `repo` with the test password; returns the raw output.
pub fn bunker_raw(repo: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    bunker_raw_as(&bunker_bin(), repo, args, stdin)
}

/// [`bunker_raw`] with another copy of the binary.
pub fn bunker_raw_as(bin: &Path, repo: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_with_stdin(
        Command::new(bin)
            .arg("-r")
            .arg(repo)
            .args(args)
            .env("BUNKER_PASSWORD", PASSWORD)
            .env_remove("BUNKER_REPOSITORY"),
        stdin,
    )
}

pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(data).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// The JSON result of a `--json` command: all of its output, or, after the status
/// lines a slow command prints first (restic's `message_type: "status"`), its last line.
pub fn json_result(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim())
        .or_else(|_| serde_json::from_str(out.trim().lines().last().unwrap_or("")))
        .unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs bunker and asserts success; returns stdout.
pub fn bunker(repo: &Path, args: &[&str]) -> String {
    let o = bunker_raw(repo, args, None);
    assert!(o.status.success(), "bunker {args:?} failed:\n{}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs restic against `repo` and asserts success; returns stdout.
pub fn restic(repo: &Path, args: &[&str]) -> String {
    oracle("restic", repo, args, "RESTIC_PASSWORD")
}

/// Runs rustic against `repo` and asserts success; returns stdout.
pub fn rustic(repo: &Path, args: &[&str]) -> String {
    oracle("rustic", repo, args, "RUSTIC_PASSWORD")
}

fn oracle(name: &str, repo: &Path, args: &[&str], env: &str) -> String {
    let bin = tool(name);
    let o = Command::new(&bin)
        .arg("-r")
        .arg(repo)
        .args(args)
        .env(env, PASSWORD)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .env("RUSTIC_CACHE_DIR", repo.with_extension("cache"))
        .env("RUSTIC_NO_PROGRESS", "true")
        .stdin(Stdio::null())
        .output()
        .expect("spawn oracle");
    assert!(o.status.success(), "{name} {args:?} failed:\n{}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, data).expect("write");
}

/// Regular files below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Flips one byte of a repository file (they are written read-only).
pub fn flip_byte(path: &Path, at: impl FnOnce(usize) -> usize) {
    let mut data = std::fs::read(path).expect("read");
    let i = at(data.len());
    data[i] ^= 0x55;
    chmod(path, 0o644);
    std::fs::write(path, &data).expect("write");
}

/// Deterministic incompressible bytes.
pub fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// A source tree with the cases restore must get right. `raw_link_target` adds a
/// symlink whose target is not UTF-8: restic stores those only from 0.16 on
/// (`linktarget_raw`), so the tests against Debian's restic 0.14 leave it out.
pub fn make_tricky_tree(root: &Path, raw_link_target: bool) {
    std::fs::create_dir_all(root).expect("mkdir");
    write(&root.join("empty-file"), b"");
    std::fs::create_dir_all(root.join("empty-dir")).expect("mkdir");
    write(&root.join("name with spaces.txt"), b"spaces\n");
    write(
        &root.join(OsStr::from_bytes(b"new\nline")),
        b"newline in name\n",
    );
    write(
        &root.join(OsStr::from_bytes(b"latin1-\xe9t\xe9")),
        b"not utf-8\n",
    );
    write(&root.join("quote\"and\\backslash"), b"q\n");
    let mut deep = root.join("deep");
    for i in 0..30 {
        deep = deep.join(format!("level-{i:02}-{}", "x".repeat(40)));
    }
    write(&deep.join("leaf.txt"), b"deep leaf\n");
    write(
        &root.join("big/random.bin"),
        &noise(3 * 1024 * 1024 + 17, 42),
    );
    write(
        &root.join("big/text.log"),
        "a compressible log line\n".repeat(100_000).as_bytes(),
    );
    std::os::unix::fs::symlink("name with spaces.txt", root.join("link")).expect("symlink");
    std::os::unix::fs::symlink("does/not/exist", root.join("dangling")).expect("symlink");
    if raw_link_target {
        std::os::unix::fs::symlink(OsStr::from_bytes(b"target-\xff"), root.join("raw-target"))
            .expect("symlink");
    }
    write(&root.join("hard/a"), b"hard linked content\n");
    std::fs::hard_link(root.join("hard/a"), root.join("hard/b")).expect("hard link");
    // Sparse: a hole of 4 MiB between two small extents.
    {
        let f = std::fs::File::create(root.join("sparse.img")).expect("create");
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"start", 0).expect("write");
        f.write_all_at(b"end", 4 * 1024 * 1024).expect("write");
    }
    write(&root.join("modes/secret"), b"0600\n");
    std::fs::set_permissions(
        root.join("modes/secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    write(&root.join("modes/script.sh"), b"#!/bin/sh\n");
    std::fs::set_permissions(
        root.join("modes/script.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    write(&root.join("xattr.txt"), b"has attributes\n");
    let _ = xattr::set(
        root.join("xattr.txt"),
        "user.bunker.note",
        b"kept\x00\xffbinary",
    );
    nix::unistd::mkfifo(
        &root.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    // Times with nanoseconds, on files and directories (set last, directories after content).
    let t = filetime::FileTime::from_unix_time(1_600_000_000, 123_456_789);
    filetime::set_file_times(root.join("modes/secret"), t, t).expect("times");
    filetime::set_symlink_file_times(root.join("link"), t, t).expect("times");
    filetime::set_file_times(root.join("empty-dir"), t, t).expect("times");
}

/// What a file system entry looks like, for comparison.
#[derive(Debug, PartialEq)]
pub struct Entry {
    kind: &'static str,
    mode: u32,
    mtime_ns: i128,
    size: u64,
    content: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    xattrs: Vec<(String, Vec<u8>)>,
    /// Index of the first path with the same inode (hard links).
    link_group: Option<usize>,
}

/// Every entry below `root` by relative path (raw bytes), with content and metadata.
pub fn snapshot_tree(root: &Path) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, usize> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    let mut n = 0;
    while let Some(p) = stack.pop() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(&p)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        children.sort();
        for c in children {
            let m = std::fs::symlink_metadata(&c).expect("lstat");
            let ft = m.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_file() {
                "file"
            } else {
                "other"
            };
            let link_group = if ft.is_file() && m.nlink() > 1 {
                Some(*inodes.entry(m.ino()).or_insert(n))
            } else {
                None
            };
            n += 1;
            let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(&c)
                .map(|l| {
                    l.filter_map(|k| Some((k.to_str()?.to_string(), xattr::get(&c, &k).ok()??)))
                        .collect()
                })
                .unwrap_or_default();
            xattrs.sort();
            let rel = c
                .strip_prefix(root)
                .expect("prefix")
                .as_os_str()
                .as_bytes()
                .to_vec();
            out.insert(
                rel,
                Entry {
                    kind,
                    mode: if ft.is_symlink() {
                        0
                    } else {
                        m.mode() & 0o7777
                    },
                    mtime_ns: if ft.is_dir() {
                        0
                    } else {
                        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
                    },
                    size: if ft.is_file() { m.len() } else { 0 },
                    content: ft.is_file().then(|| std::fs::read(&c).expect("read")),
                    link: ft.is_symlink().then(|| {
                        std::fs::read_link(&c)
                            .expect("readlink")
                            .as_os_str()
                            .as_bytes()
                            .to_vec()
                    }),
                    xattrs,
                    link_group,
                },
            );
            if ft.is_dir() {
                stack.push(c);
            }
        }
    }
    out
}

/// Asserts two trees hold the same entries, content and metadata.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let (a, b) = (snapshot_tree(expected), snapshot_tree(actual));
    let names = |t: &BTreeMap<Vec<u8>, Entry>| {
        t.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a), names(&b), "different entries");
    for (k, e) in &a {
        assert_eq!(
            Some(e),
            b.get(k),
            "entry {} differs",
            String::from_utf8_lossy(k)
        );
    }
}

/// The snapshot's path below a restore target (restic restores the absolute path).
pub fn restored(target: &Path, source: &Path) -> PathBuf {
    target.join(source.strip_prefix("/").expect("absolute source"))
}

/// Allocated bytes of a file (to prove it stayed sparse).
pub fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").blocks() * 512
}
