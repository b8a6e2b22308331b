//! The line's true order, read from Redis itself: `MONITOR` shows every command the queue's
//! Lua scripts run, in the order Redis ran them. A join is `ZADD ar:{ROOM}:queue TICKET
//! VISITOR`; an admission is the visitor's first `ZADD ar:{ROOM}:active EXPIRES VISITOR`.
//! Clients see both only through network delays, so only the server's order can show a
//! Kendall-tau distance of exactly 0.

use std::collections::{HashMap, HashSet};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// What the monitor saw of one room.
#[derive(Debug, Default, Clone)]
pub struct LineOrder {
    /// Visitor (32 hex digits) → join ticket.
    pub tickets: HashMap<String, u64>,
    /// Visitors in the order they were admitted, with the server time (seconds).
    pub admissions: Vec<(String, f64)>,
    admitted: HashSet<String>,
}

impl LineOrder {
    /// Takes one `MONITOR` line into account.
    pub fn observe(&mut self, line: &str, room: &str) {
        let Some((at, args)) = parse_monitor_line(line) else {
            return;
        };
        let [command, key, rest @ ..] = args.as_slice() else {
            return;
        };
        if !command.eq_ignore_ascii_case("zadd") {
            return;
        }
        let pairs = rest.chunks_exact(2);
        if *key == format!("ar:{{{room}}}:queue") {
            for pair in pairs {
                if let [score, member] = pair {
                    if let Ok(ticket) = score.parse::<u64>() {
                        self.tickets.entry(member.clone()).or_insert(ticket);
                    }
                }
            }
        } else if *key == format!("ar:{{{room}}}:active") {
            for pair in pairs {
                if let [_, member] = pair {
                    if self.admitted.insert(member.clone()) {
                        self.admissions.push((member.clone(), at));
                    }
                }
            }
        }
    }

    /// The admitted visitors' join tickets in admission order (visitors whose join the
    /// monitor did not see are left out and counted by the caller).
    pub fn tickets_in_admission_order(&self) -> Vec<u64> {
        self.admissions
            .iter()
            .filter_map(|(member, _)| self.tickets.get(member).copied())
            .collect()
    }
}

/// `+1701388800.123456 [0 lua] "ZADD" "key" "1"` → (time, arguments unquoted).
pub fn parse_monitor_line(line: &str) -> Option<(f64, Vec<String>)> {
    let line = line.strip_prefix('+')?;
    let (time, rest) = line.split_once(' ')?;
    let at = time.parse::<f64>().ok()?;
    let (_, quoted) = rest.split_once("] ")?;
    Some((at, unquote_all(quoted)))
}

/// The quoted arguments of a monitor line (`\"`, `\\` and `\xNN` escapes undone).
fn unquote_all(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        if let Ok(byte) = u8::from_str_radix(&hex, 16) {
                            arg.push(char::from(byte));
                        }
                    }
                    Some(other) => arg.push(other),
                    None => break,
                },
                other => arg.push(other),
            }
        }
        args.push(arg);
    }
    args
}

/// A `MONITOR` session on one Redis, recording one room's line.
pub struct Monitor {
    task: tokio::task::JoinHandle<std::io::Result<LineOrder>>,
    addr: String,
    marker: String,
}

impl Monitor {
    /// Connects to `addr` (`host:port`) and starts recording.
    pub async fn start(addr: &str, room: &str) -> std::io::Result<Monitor> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"MONITOR\r\n").await?;
        let mut lines = BufReader::new(stream).lines();
        // The first line is MONITOR's own +OK: after it, every command is seen.
        lines.next_line().await?;
        let marker = format!("anteroom-loadtest-end-{}", rand::random::<u64>());
        let (room, end) = (room.to_string(), marker.clone());
        let task = tokio::spawn(async move {
            let mut order = LineOrder::default();
            while let Some(line) = lines.next_line().await? {
                if line.contains(&end) {
                    break;
                }
                order.observe(&line, &room);
            }
            Ok(order)
        });
        Ok(Monitor {
            task,
            addr: addr.to_string(),
            marker,
        })
    }

    /// Stops recording once Redis has shown everything it ran before this call: an `ECHO`
    /// of a unique marker is the last command the monitor reads.
    pub async fn finish(self) -> std::io::Result<LineOrder> {
        let mut stream = TcpStream::connect(&self.addr).await?;
        let echo = format!(
            "*2\r\n$4\r\nECHO\r\n${}\r\n{}\r\n",
            self.marker.len(),
            self.marker
        );
        stream.write_all(echo.as_bytes()).await?;
        let mut reply = [0u8; 64];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut reply).await?;
        self.task.await.map_err(std::io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_first_admissions_are_read_in_server_order() {
        let mut order = LineOrder::default();
        let lines = [
            "+1.0 [0 127.0.0.1:5] \"EVALSHA\" \"abc\" \"12\"",
            "+1.1 [0 lua] \"ZADD\" \"ar:{sale}:queue\" \"1\" \"aa\"",
            "+1.2 [0 lua] \"ZADD\" \"ar:{sale}:queue\" \"2\" \"bb\"",
            "+1.3 [0 lua] \"ZADD\" \"ar:{other}:queue\" \"3\" \"cc\"",
            "+1.4 [0 lua] \"ZADD\" \"ar:{sale}:active\" \"9000\" \"bb\" \"9000\" \"aa\"",
            "+1.5 [0 lua] \"zadd\" \"ar:{sale}:active\" \"9999\" \"bb\"",
        ];
        for line in lines {
            order.observe(line, "sale");
        }
        assert_eq!(order.tickets.len(), 2);
        assert_eq!(order.tickets_in_admission_order(), vec![2, 1]);
        assert_eq!(order.admissions.len(), 2, "a renewal is not an admission");
        assert!((order.admissions[0].1 - 1.4).abs() < 1e-9);
    }

    #[test]
    fn escapes_are_undone() {
        let (at, args) =
            parse_monitor_line("+5.5 [0 lua] \"a\\\"b\" \"c\\\\d\" \"\\x41\"").unwrap();
        assert!((at - 5.5).abs() < 1e-9);
        assert_eq!(args, vec!["a\"b", "c\\d", "A"]);
        assert!(parse_monitor_line("OK").is_none());
    }
}
