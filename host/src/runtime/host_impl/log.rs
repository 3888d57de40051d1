//! `supervise:model/log`: messages into the capped run log.

use crate::runtime::bindings::Level;
use crate::runtime::bindings::supervise::model::log::Host;
use crate::runtime::state::RunState;

/// Longest single message kept; longer ones are cut.
const MAX_MESSAGE: usize = 4096;

impl Host for RunState {
    fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        tracing::debug!(target: "supervise::guest", ?level, "{message}");
        let cap = self.limits.max_log_bytes;
        self.out.log(level, message, cap);
        Ok(())
    }
}
