//! What the `agent_serve` fuzz targets and their seed generator share: the small tree an agent
//! serves (`fixture`) and one session of a hostile client against `sy_transport::serve`
//! (`session`).

mod fixture;
mod session;

pub use fixture::{BIG_LEN, big_file, plant, small_file};
pub use session::{client_hello, run_session};
