//! Any text from the network goes through the frame decoder and the PStream without a panic.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use twilio_voice::protocol::frame::{BrowserInfo, parse_server_frame};
use twilio_voice::signaling::{PStream, SocketCommand, TransportOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_server_frame(text);
    // And through a live stream, as a frame on an open socket.
    let now = Instant::now();
    let mut s = PStream::new("t".into(), vec!["wss://x/signal".into()], BrowserInfo::device(None, None), TransportOptions::default(), 1, now);
    let Some(SocketCommand::Connect { socket, .. }) = s.poll_command() else { return };
    s.on_socket_open(socket, now);
    s.on_socket_message(socket, text.to_string(), now);
    while s.poll_event().is_some() {}
    while s.poll_command().is_some() {}
});
