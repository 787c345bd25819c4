//! The `log_level` Device option: the most detailed level a Device writes to `tracing`
//! (target `twilio_voice`). The application's subscriber filters further; `Silent` writes
//! nothing. Default `Error`, as the SDK.

use crate::options::LogLevel;

/// Whether a Device at `limit` writes an event at `level`.
pub fn enabled(limit: LogLevel, level: tracing::Level) -> bool {
    let wanted = match level {
        tracing::Level::TRACE => LogLevel::Trace,
        tracing::Level::DEBUG => LogLevel::Debug,
        tracing::Level::INFO => LogLevel::Info,
        tracing::Level::WARN => LogLevel::Warn,
        tracing::Level::ERROR => LogLevel::Error,
    };
    limit != LogLevel::Silent && wanted >= limit
}

/// `device_log!(limit, WARN, fields…, "message")`: a `tracing` event if the Device's
/// `log_level` lets it through.
#[macro_export]
#[doc(hidden)]
macro_rules! device_log {
    ($limit:expr, $level:ident, $($rest:tt)*) => {
        if $crate::logging::enabled($limit, tracing::Level::$level) {
            tracing::event!(target: "twilio_voice", tracing::Level::$level, $($rest)*);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_filter_like_the_sdks_log_level() {
        assert!(enabled(LogLevel::Error, tracing::Level::ERROR));
        assert!(!enabled(LogLevel::Error, tracing::Level::WARN));
        assert!(enabled(LogLevel::Debug, tracing::Level::WARN));
        assert!(!enabled(LogLevel::Silent, tracing::Level::ERROR));
        assert!(enabled(LogLevel::Trace, tracing::Level::TRACE));
    }
}
