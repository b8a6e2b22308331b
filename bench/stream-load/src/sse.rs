//! The body of an SSE response, byte by byte as it arrives: HTTP/1.1 chunked framing
//! (the gateway sends streams chunked) and the event-stream format on top. Both keep their
//! state between reads, so an event or a chunk header may be split anywhere.

/// One dispatched event: `event:` (default "message"), the last `id:` seen, `data:` lines
/// joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// Event-stream parser (the WHATWG rules this client needs: `\n` or `\r\n` line ends,
/// comments, multi-line data, `retry:` ignored, `id` persisting across events).
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    last_id: Option<String>,
    /// `:` comment lines seen (the gateway's heartbeats).
    pub comments: u64,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        for &byte in bytes {
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
            // Reuse the allocation: the next line is usually the same size.
            self.line = line;
            self.line.clear();
        }
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: self.event.take().unwrap_or_else(|| "message".to_string()),
                    id: self.last_id.clone(),
                    data,
                });
            }
            self.event = None;
            return;
        }
        if line.first() == Some(&b':') {
            self.comments += 1;
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "id" => self.last_id = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// `Transfer-Encoding: chunked` decoder.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size_line: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkError(pub String);

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            size_line: Vec::new(),
        }
    }
}

impl ChunkedDecoder {
    /// Appends the payload in `bytes` to `out`; Ok(true) once the last chunk has been read.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<bool, ChunkError> {
        while let Some((&first, rest)) = bytes.split_first() {
            match self.state {
                ChunkState::Done => return Ok(true),
                ChunkState::Size | ChunkState::Trailer | ChunkState::DataEnd => {
                    bytes = rest;
                    if first != b'\n' {
                        if self.size_line.len() > 1024 {
                            return Err(ChunkError("chunk header line too long".into()));
                        }
                        self.size_line.push(first);
                        continue;
                    }
                    let line = std::mem::take(&mut self.size_line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = self.after_line(line)?;
                }
                ChunkState::Data(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    let (payload, rest) = bytes.split_at(take);
                    out.extend_from_slice(payload);
                    bytes = rest;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
            }
        }
        Ok(self.state == ChunkState::Done)
    }

    fn after_line(&self, line: &[u8]) -> Result<ChunkState, ChunkError> {
        match self.state {
            ChunkState::DataEnd if line.is_empty() => Ok(ChunkState::Size),
            ChunkState::DataEnd => Err(ChunkError("no CRLF after chunk data".into())),
            ChunkState::Trailer if line.is_empty() => Ok(ChunkState::Done),
            ChunkState::Trailer => Ok(ChunkState::Trailer),
            _ => {
                let text = String::from_utf8_lossy(line);
                let hex = text.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(hex, 16)
                    .map_err(|_| ChunkError(format!("bad chunk size {hex:?}")))?;
                Ok(if size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(size)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str =
        "retry: 3000\n\n: hello\n\nevent: status\nid: 41\ndata: {\"position\":7}\n\n\
                          : keepalive\r\nevent: status\r\nid: 42\r\ndata: {\"position\":5}\r\n\r\n";

    fn parse_in_pieces(bytes: &[u8], piece: usize) -> (Vec<SseEvent>, u64) {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in bytes.chunks(piece) {
            parser.feed(chunk, &mut events);
        }
        (events, parser.comments)
    }

    #[test]
    fn events_are_the_same_whatever_the_read_boundaries() {
        let (whole, comments) = parse_in_pieces(STREAM.as_bytes(), STREAM.len());
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: "status".into(),
                    id: Some("41".into()),
                    data: "{\"position\":7}".into()
                },
                SseEvent {
                    event: "status".into(),
                    id: Some("42".into()),
                    data: "{\"position\":5}".into()
                },
            ]
        );
        assert_eq!(comments, 2);
        for piece in 1..STREAM.len() {
            assert_eq!(
                parse_in_pieces(STREAM.as_bytes(), piece).0,
                whole,
                "piece {piece}"
            );
        }
    }

    #[test]
    fn multi_line_data_joins_with_newlines_and_id_persists() {
        let (events, _) = parse_in_pieces(b"id: 9\ndata: a\ndata: b\n\ndata:c\n\n", 3);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "a\nb");
        assert_eq!(events[0].event, "message");
        assert_eq!(events[1].data, "c");
        assert_eq!(events[1].id.as_deref(), Some("9"));
    }

    #[test]
    fn a_blank_line_without_data_dispatches_nothing() {
        let (events, _) = parse_in_pieces(b"event: status\nid: 3\n\n", 1);
        assert!(events.is_empty());
    }

    fn chunked(payload: &str, sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = payload.as_bytes();
        for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(size.min(rest.len()));
            out.extend_from_slice(format!("{:x};ext=1\r\n", head.len()).as_bytes());
            out.extend_from_slice(head);
            out.extend_from_slice(b"\r\n");
            rest = tail;
        }
        out.extend_from_slice(b"0\r\ntrailer: x\r\n\r\n");
        out
    }

    #[test]
    fn chunked_payload_survives_any_read_boundary() {
        let wire = chunked(STREAM, &[17, 1, 40]);
        for piece in 1..wire.len() {
            let mut decoder = ChunkedDecoder::default();
            let mut out = Vec::new();
            let mut done = false;
            for part in wire.chunks(piece) {
                done = decoder.feed(part, &mut out).unwrap();
            }
            assert!(done, "piece {piece}");
            assert_eq!(String::from_utf8(out).unwrap(), STREAM, "piece {piece}");
        }
    }

    #[test]
    fn chunked_reports_bad_framing() {
        let mut out = Vec::new();
        assert!(ChunkedDecoder::default()
            .feed(b"zz\r\nabc\r\n", &mut out)
            .is_err());
        assert!(ChunkedDecoder::default()
            .feed(b"3\r\nabcX\r\n", &mut out)
            .is_err());
        let mut open = ChunkedDecoder::default();
        assert_eq!(open.feed(b"3\r\nab", &mut out), Ok(false));
    }
}
