//! A key's passphrase, asked on the terminal as OpenSSH's `readpassphrase` asks: echo is off
//! before the prompt shows, so nothing typed once the prompt is there can be echoed (asking
//! first and silencing after, a quick typist's first characters showed), and the terminal's
//! settings are put back afterwards, whatever happened.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

/// Shows `prompt` on the controlling terminal and reads one line without echoing it; the line
/// without its end.
pub fn ask(prompt: &str) -> io::Result<String> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let saved = tcgetattr(&tty)?;
    let mut silent = saved.clone();
    silent.local_modes.remove(LocalModes::ECHO);
    // The end of the line still shows, so what follows starts on a line of its own.
    silent.local_modes.insert(LocalModes::ECHONL);
    // Flush: what was typed before the prompt is dropped, as OpenSSH does.
    tcsetattr(&tty, OptionalActions::Flush, &silent)?;
    let answer = read_after_prompt(&tty, prompt);
    let restored = tcsetattr(&tty, OptionalActions::Now, &saved);
    let line = answer?;
    restored?;
    Ok(line)
}

fn read_after_prompt(tty: &File, prompt: &str) -> io::Result<String> {
    let mut out = tty;
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    let mut line = String::new();
    BufReader::new(tty).read_line(&mut line)?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}
