//! Moments as JSON Lines: the replay output format ([`landfall_model::json`]).

use std::io::{self, Write};

use landfall_model::json::MomentRecord;
use landfall_model::Moment;

/// Write one moment as a JSON line; `files` names the run's captures by index.
pub fn write_moment(w: &mut impl Write, m: &Moment, files: &[String]) -> io::Result<()> {
    serde_json::to_writer(&mut *w, &MomentRecord::of(m, files))?;
    w.write_all(b"\n")
}
