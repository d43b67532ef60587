//! Open vSwitch's database as the tests run it: Debian's `ovsdb-server` on a fresh
//! Open_vSwitch database, `ovs-vsctl` against it, `brisk run --ovsdb` following it in a
//! network namespace, and `ovs-appctl` against brisk's unixctl socket.

use super::BRISK;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn sh(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

pub fn ok(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// ovsdb-server on a fresh Open_vSwitch database in `dir`.
pub struct Db {
    dir: PathBuf,
    server: Option<Child>,
}

impl Db {
    pub fn create(dir: &Path) -> Db {
        Db::create_as(dir, false)
    }

    /// A one-server clustered (Raft) database: ovsdb-server keeps its transaction history,
    /// so a client reconnecting with `monitor_cond_since` gets only what changed.
    pub fn create_clustered(dir: &Path) -> Db {
        Db::create_as(dir, true)
    }

    fn create_as(dir: &Path, clustered: bool) -> Db {
        let db = dir.join("conf.db");
        let schema = "/usr/share/openvswitch/vswitch.ovsschema";
        ok(&if clustered {
            format!(
                "ovsdb-tool create-cluster {} {schema} unix:{}",
                db.display(),
                dir.join("raft.sock").display()
            )
        } else {
            format!("ovsdb-tool create {} {schema}", db.display())
        });
        let mut d = Db {
            dir: dir.to_path_buf(),
            server: None,
        };
        d.start();
        d.vsctl("--no-wait init");
        d
    }

    pub fn sock(&self) -> String {
        format!("unix:{}", self.dir.join("db.sock").display())
    }

    pub fn start(&mut self) {
        let child = Command::new("ovsdb-server")
            .arg(self.dir.join("conf.db"))
            .arg(format!(
                "--remote=punix:{}",
                self.dir.join("db.sock").display()
            ))
            .arg(format!(
                "--unixctl={}",
                self.dir.join("ovsdb.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.dir.join("ovsdb.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(child);
        let t = Instant::now();
        while !self.dir.join("db.sock").exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "ovsdb-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("db.sock"));
    }

    /// `ovs-appctl -t` the server's own control socket.
    pub fn appctl(&self, args: &str) -> String {
        ok(&format!(
            "ovs-appctl --timeout=10 -t {} {args}",
            self.dir.join("ovsdb.ctl").display()
        ))
    }

    /// `ovs-vsctl --db=... --timeout=30 ARGS`, which must succeed.
    pub fn vsctl(&self, args: &str) -> String {
        ok(&format!(
            "ovs-vsctl --db={} --timeout=30 {args}",
            self.sock()
        ))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `brisk run` killed when dropped, so a failing test leaves no busy-polling switch
/// behind to slow the tests after it.
pub struct Running(pub Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `brisk run --ovsdb` in network namespace `netns`, EAL from the database, its log in
/// `DIR/brisk.log`.
pub fn brisk(db: &Db, netns: &str, dir: &Path) -> Running {
    Running(
        Command::new("ip")
            .args(["netns", "exec", netns, BRISK, "run", "--ovsdb", &db.sock()])
            .arg("--rundir")
            .arg(dir)
            .arg("--socket")
            .arg(dir.join("brisk.sock"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("brisk.log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// `ovs-appctl` with ovs-vswitchd's run directory set to `dir`, as an operator's would be.
pub fn appctl(dir: &Path, args: &str) -> (bool, String) {
    let o = sh(&format!(
        "OVS_RUNDIR={} ovs-appctl --timeout=10 {args}",
        dir.display()
    ));
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// Waits until `f` holds (10 s at most), naming `what` if it does not.
pub fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
