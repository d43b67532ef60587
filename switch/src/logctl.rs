//! The log level at run time, for `ovs-appctl vlog/list` and `vlog/set`: the binary that
//! set up logging installs how to change it; the switch only asks.

use parking_lot::Mutex;
use std::sync::OnceLock;

type Setter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static SETTER: OnceLock<Setter> = OnceLock::new();
static CURRENT: Mutex<String> = Mutex::new(String::new());

/// Installs how to change the log filter (`tracing`'s filter syntax), and the one in force.
pub fn install(current: &str, set: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) {
    *CURRENT.lock() = current.to_string();
    let _ = SETTER.set(Box::new(set));
}

/// The filter in force (empty when none was installed).
pub fn current() -> String {
    CURRENT.lock().clone()
}

/// Changes the filter; an error if it does not parse or nothing was installed.
pub fn set(filter: &str) -> Result<(), String> {
    let s = SETTER
        .get()
        .ok_or("the log level cannot be changed in this process")?;
    s(filter)?;
    *CURRENT.lock() = filter.to_string();
    Ok(())
}

/// OVS's level names (`emer`, `err`, `warn`, `info`, `dbg`, `off`) as `tracing`'s, and
/// back.
pub fn from_ovs(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_lowercase().as_str() {
        "emer" | "err" | "error" => "error",
        "warn" => "warn",
        "info" => "info",
        "dbg" | "debug" => "debug",
        "trace" => "trace",
        "off" => "off",
        _ => return None,
    })
}

/// `tracing`'s level as OVS prints it in `vlog/list`.
pub fn to_ovs(level: &str) -> &'static str {
    match level {
        "error" => "ERR",
        "warn" => "WARN",
        "info" => "INFO",
        "debug" | "trace" => "DBG",
        "off" => "OFF",
        _ => "INFO",
    }
}
