//! rsync's `--chmod`: changes applied to the source's permission bits before they are compared
//! with the destination's and given to the copy, in rsync's syntax — comma-separated clauses,
//! each an optional `D` (directories only) or `F` (files only), then either an octal mode
//! (`D755`, `F0644`) or `[ugoa]*` `+`, `-` or `=` `[rwxXst]*` (`u+x,g-w`, `a+X`).

use crate::SyncError;

/// Every permission bit: set-id, sticky, and read, write and execute for all.
const BITS: u32 = 0o7777;

/// The `--chmod` changes, in the order given (several `--chmod` options accumulate).
///
/// ```
/// use sy_engine::Chmod;
///
/// let mut chmod = Chmod::default();
/// chmod.add("D755,F644", 0o022)?;
/// chmod.add("u+x", 0o022)?;
/// assert_eq!(chmod.apply(0o600, false), 0o744);
/// assert_eq!(chmod.apply(0o700, true), 0o755);
/// assert!(chmod.add("F8", 0o022).is_err());
/// # Ok::<(), sy_engine::SyncError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chmod {
    clauses: Vec<Clause>,
}

/// One clause: the bits it keeps, then the bits it sets, on the entries it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clause {
    only: Option<Only>,
    keep: u32,
    set: u32,
    /// `X`: execute only for directories and for files that some class can execute.
    x_if_executable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Dirs,
    Files,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Assign,
}

impl Chmod {
    /// Appends the clauses of one `--chmod` value. `umask` is the process's: as in rsync (and
    /// chmod(1)), a clause that names no class (`+x`) is `a` limited by it.
    pub fn add(&mut self, text: &str, umask: u32) -> Result<(), SyncError> {
        for clause in text.split(',') {
            let parsed = parse_clause(clause, umask).ok_or_else(|| {
                SyncError::Invalid(format!(
                    "--chmod={text}: {clause:?} is not a mode change (such as D755, F644, \
                     u+rwx, go-w, a+X)"
                ))
            })?;
            self.clauses.push(parsed);
        }
        Ok(())
    }

    /// True when there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The permission bits `mode` becomes for a directory (`is_dir`) or a file.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let executable = mode & 0o111 != 0;
        let mut out = mode & BITS;
        for clause in &self.clauses {
            match clause.only {
                Some(Only::Dirs) if !is_dir => continue,
                Some(Only::Files) if is_dir => continue,
                _ => {}
            }
            out &= clause.keep;
            out |= if clause.x_if_executable && !executable && !is_dir {
                clause.set & !0o111
            } else {
                clause.set
            };
        }
        out | (mode & !BITS)
    }
}

/// One clause, by rsync's rules; `None` when it is not one.
fn parse_clause(clause: &str, umask: u32) -> Option<Clause> {
    let mut only = None;
    let mut who = 0u32;
    let mut who_set_id = 0u32;
    let mut chars = clause.chars().peekable();
    let op = loop {
        match chars.next()? {
            'D' if only != Some(Only::Files) => only = Some(Only::Dirs),
            'F' if only != Some(Only::Dirs) => only = Some(Only::Files),
            'u' => (who, who_set_id) = (who | 0o100, who_set_id | 0o4000),
            'g' => (who, who_set_id) = (who | 0o010, who_set_id | 0o2000),
            'o' => who |= 0o001,
            'a' => who |= 0o111,
            '+' => break Op::Add,
            '-' => break Op::Remove,
            '=' => break Op::Assign,
            digit @ '0'..='7' if who == 0 => {
                let mut value = digit.to_digit(8)?;
                for digit in chars {
                    value = value * 8 + digit.to_digit(8)?;
                    if value > BITS {
                        return None;
                    }
                }
                return Some(Clause {
                    only,
                    keep: 0,
                    set: value,
                    x_if_executable: false,
                });
            }
            _ => return None,
        }
    };
    let (mut what, mut special, mut x_if_executable) = (0u32, 0u32, false);
    for c in chars {
        match c {
            'r' => what |= 4,
            'w' => what |= 2,
            'x' => what |= 1,
            'X' => (what, x_if_executable) = (what | 1, true),
            's' if who_set_id != 0 => special |= who_set_id,
            's' => special |= 0o4000,
            't' => special |= 0o1000,
            _ => return None,
        }
    }
    let bits = if who == 0 {
        who = 0o111;
        (who * what) & !umask
    } else {
        who * what
    };
    let (keep, set) = match op {
        Op::Add => (BITS, bits | special),
        Op::Remove => (BITS & !(bits | special), 0),
        Op::Assign => {
            let cleared = (who * 7) | if special != 0 { who_set_id } else { 0 };
            (BITS & !cleared, bits | special)
        }
    };
    Some(Clause {
        only,
        keep,
        set,
        x_if_executable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(text: &str) -> Chmod {
        let mut chmod = Chmod::default();
        chmod.add(text, 0o022).unwrap();
        chmod
    }

    #[test]
    fn octal_modes_for_directories_and_files() {
        let c = chmod("D755,F644");
        assert_eq!(c.apply(0o700, true), 0o755);
        assert_eq!(c.apply(0o4777, false), 0o644);
        assert_eq!(chmod("F0600").apply(0o777, false), 0o600);
        assert_eq!(
            chmod("F600").apply(0o777, true),
            0o777,
            "F is for files only"
        );
    }

    #[test]
    fn symbolic_changes_as_chmod_makes_them() {
        assert_eq!(chmod("u+x,g-w").apply(0o664, false), 0o744);
        assert_eq!(chmod("go=r").apply(0o777, false), 0o744);
        assert_eq!(chmod("a-rwx,u=rw").apply(0o777, false), 0o600);
        assert_eq!(chmod("u+s,g+s").apply(0o755, false), 0o6755);
        assert_eq!(chmod("+t").apply(0o755, true), 0o1755);
        assert_eq!(
            chmod("o+s").apply(0o755, false),
            0o4755,
            "rsync's: s alone is u's"
        );
    }

    #[test]
    fn a_capital_x_adds_execute_to_directories_and_executables_only() {
        let c = chmod("a+X");
        assert_eq!(c.apply(0o644, false), 0o644);
        assert_eq!(c.apply(0o744, false), 0o755);
        assert_eq!(c.apply(0o600, true), 0o711);
        // Whether a file is executable is judged before any clause applies, as in rsync.
        assert_eq!(chmod("u+x,a+X").apply(0o644, false), 0o744);
    }

    #[test]
    fn a_clause_without_a_class_is_limited_by_the_umask() {
        assert_eq!(chmod("+w").apply(0o444, false), 0o644);
        assert_eq!(chmod("-w").apply(0o666, false), 0o466);
        assert_eq!(chmod("=r").apply(0o777, false), 0o444);
    }

    #[test]
    fn several_values_accumulate_in_order() {
        let mut c = Chmod::default();
        assert!(c.is_empty());
        c.add("F600", 0o022).unwrap();
        c.add("go+r", 0o022).unwrap();
        assert_eq!(c.apply(0o777, false), 0o644);
    }

    #[test]
    fn a_malformed_value_names_itself() {
        for bad in [
            "", "u", "x+r", "u+q", "D8", "F77777", "DF755", "u755", "a+r,", "u+r-w",
        ] {
            let err = Chmod::default().add(bad, 0o022).unwrap_err().to_string();
            assert!(err.contains(&format!("--chmod={bad}:")), "{bad}: {err}");
        }
    }
}
