//! `cargo xtask`: project automation (skeleton; filled by the bench issue).

fn main() {
    eprintln!("xtask: no tasks yet");
}
