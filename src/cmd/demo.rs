//! `demo`: the whole tool on built-in data, in a temporary folder.

use anyhow::Result;

use crate::Exit;

/// `demo`.
pub fn run() -> Result<Exit> {
    Ok(Exit::OK)
}
