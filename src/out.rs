//! Printing that stops quietly when the reader goes away (`brisk conf flows x.yaml | head -1`):
//! a closed standard output ends the command with the status a shell shows for a process
//! killed by SIGPIPE, without a message, instead of `print!`'s panic.

use std::io::Write;

/// Exit status of a command whose reader went away (128 + SIGPIPE, as a shell reports a
/// process that SIGPIPE killed).
pub const BROKEN_PIPE_EXIT: u8 = 141;

/// Linux's EPIPE.
const EPIPE: i32 = 32;

/// Writes `text` to standard output (and flushes it, so that a closed pipe is seen here).
pub fn print(text: &str) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.flush()
}

/// Writes `text` to standard error; a closed standard error is ignored (there is nowhere
/// left to say anything).
pub fn eprint(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

/// Whether `e` comes from a closed standard output (a broken pipe).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// For output printed with `print!` (which panics when standard output is a closed pipe):
/// ends the process quietly with [`BROKEN_PIPE_EXIT`] on that panic; every other panic is
/// reported as before.
pub fn quiet_broken_pipe_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        let pipe = std::io::Error::from_raw_os_error(EPIPE).to_string();
        if (msg.starts_with("failed printing to stdout")
            || msg.starts_with("failed printing to stderr"))
            && msg.ends_with(&pipe)
        {
            std::process::exit(i32::from(BROKEN_PIPE_EXIT));
        }
        previous(info);
    }));
}
