//! The Rust ceiling of `npm run bench`: plain tokio doing the work each measured workload
//! does, so the table can show what this machine reaches without JavaScript; and the Rust
//! peer processes every side of the benchmark runs against.
//!
//! ```text
//! ceiling side <workload> key=value...   the measured side of one workload
//! ceiling peer <mode> key=value...       the other end of the connection(s)
//! ```
//!
//! Both speak the runner's line protocol (bench/index.mjs): every stdout line is JSON,
//! `{"port":N}` once a socket of ours listens, `{"relay":"text"}` for the runner to hand
//! to the other process's stdin, `{"info":{...}}` and, last, `{"result":{...}}`.
//! A peer that listens serves until its stdin closes. One single-threaded runtime per
//! process: the runner pins each process to its CPU, as it does the Node sides.
//! Only 127.0.0.1 is ever used.

use std::collections::HashMap;
use std::error::Error;
use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Longest a UDP receiver keeps draining after the sender is done.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// A receiver that sees nothing for this long has drained what the kernel held.
const DRAIN_IDLE: Duration = Duration::from_millis(50);

fn main() {
  let args: Vec<String> = std::env::args().skip(1).collect();
  let runtime = tokio::runtime::Builder::new_current_thread()
    .enable_all()
    .build()
    .expect("tokio runtime");
  let outcome = runtime.block_on(run(&args));
  if let Err(err) = outcome {
    eprintln!("ceiling {}: {err}", args.join(" "));
    std::process::exit(1);
  }
  // Sockets still held by tasks need no orderly shutdown.
  std::process::exit(0);
}

async fn run(args: &[String]) -> Res<()> {
  let (Some(role), Some(name)) = (args.first(), args.get(1)) else {
    return Err("usage: ceiling side|peer <name> key=value...".into());
  };
  let p = Params::parse(&args[2..])?;
  let mut stdin = stdin_lines();
  match (role.as_str(), name.as_str()) {
    ("side", "tcp-send") => side_tcp_send(&p).await,
    ("side", "tcp-recv") => side_tcp_recv(&p).await,
    ("side", "tcp-rt") => side_tcp_rt(&p).await,
    ("side", "tcp-connect") => side_tcp_connect(&p).await,
    ("side", "tcp-accept") => side_tcp_accept(&p).await,
    ("side", "idle-client") => side_idle_client(&p).await,
    ("side", "idle-server") => side_idle_server(&p).await,
    ("side", "udp-send") => side_udp_send(&p).await,
    ("side", "udp-recv") => side_udp_recv(&p, &mut stdin).await,
    ("peer", "sink" | "source" | "echo" | "drain") => peer_server(name, &p, &mut stdin).await,
    ("peer", "connect") => peer_connect(&p).await,
    ("peer", "hold") => peer_hold(&p, &mut stdin).await,
    ("peer", "rt-clients") => peer_rt_clients(&p).await,
    ("peer", "udp-sink") => peer_udp_sink(&mut stdin).await,
    ("peer", "udp-blast") => peer_udp_blast(&p).await,
    _ => Err(format!("unknown {role} '{name}'").into()),
  }
}

// ---------------------------------------------------------------------------------------
// Plumbing

/// `key=value` arguments; unknown keys are ignored (the runner passes one set to every side).
struct Params(HashMap<String, String>);

impl Params {
  fn parse(args: &[String]) -> Res<Params> {
    let mut map = HashMap::new();
    for arg in args {
      let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got '{arg}'"))?;
      map.insert(key.to_string(), value.to_string());
    }
    Ok(Params(map))
  }

  fn num(&self, key: &str) -> Res<u64> {
    let value = self.0.get(key).ok_or_else(|| format!("missing {key}="))?;
    Ok(
      value
        .parse::<u64>()
        .map_err(|e| format!("{key}={value}: {e}"))?,
    )
  }

  fn num_or(&self, key: &str, fallback: u64) -> Res<u64> {
    if self.0.contains_key(key) {
      self.num(key)
    } else {
      Ok(fallback)
    }
  }

  /// `n` and `warm` of the idle-memory workloads: `warm < n`.
  fn idle_counts(&self) -> Res<(u64, u64)> {
    let (n, warm) = (self.num("n")?, self.num("warm")?);
    if warm >= n {
      return Err(format!("warm={warm} must be less than n={n}").into());
    }
    Ok((n, warm))
  }

  fn usize(&self, key: &str) -> Res<usize> {
    Ok(usize::try_from(self.num(key)?)?)
  }

  fn addr(&self) -> Res<SocketAddr> {
    let port = u16::try_from(self.num("port")?)?;
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
  }
}

/// Lines from stdin; the channel closes when stdin does.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
  let (tx, rx) = mpsc::unbounded_channel();
  std::thread::spawn(move || {
    for line in std::io::stdin().lock().lines() {
      let Ok(line) = line else { break };
      if tx.send(line).is_err() {
        break;
      }
    }
  });
  rx
}

fn emit(line: &str) {
  // stdout is line buffered: each line leaves at once.
  println!("{line}");
}

fn json_number(x: f64) -> String {
  if x.is_finite() {
    format!("{x}")
  } else {
    "null".to_string()
  }
}

fn emit_result(metrics: &[(&str, f64)]) {
  let fields: Vec<String> = metrics
    .iter()
    .map(|(key, value)| format!("\"{key}\":{}", json_number(*value)))
    .collect();
  emit(&format!("{{\"result\":{{{}}}}}", fields.join(",")));
}

fn emit_port(port: u16) {
  emit(&format!("{{\"port\":{port}}}"));
}

/// Resident set size of this process in KiB (Linux; NaN elsewhere).
fn rss_kib() -> f64 {
  let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
  status
    .lines()
    .find_map(|line| line.strip_prefix("VmRSS:"))
    .and_then(|rest| {
      rest
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<f64>()
        .ok()
    })
    .unwrap_or(f64::NAN)
}

/// The accept backlog of the measured accept workload, as its JS sides ask for.
const ACCEPT_BACKLOG: i32 = 1024;
/// The backlog of servers whose clients do not wait for the accept (the kernel caps it at
/// `net.core.somaxconn`): a client that connects and closes at once can outrun the
/// accepting process, and an overflowing queue costs a one-second SYN retransmit.
const DEEP_BACKLOG: i32 = 65535;

/// A TCP listener on 127.0.0.1 with an OS-chosen port.
fn listen(backlog: i32) -> Res<TcpListener> {
  let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
  socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
  socket.listen(backlog)?;
  socket.set_nonblocking(true)?;
  Ok(TcpListener::from_std(socket.into())?)
}

/// A UDP socket bound to 127.0.0.1:0, with `SO_RCVBUF` set when `rcvbuf` is not 0.
fn udp_bound(rcvbuf: usize) -> Res<UdpSocket> {
  let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
  if rcvbuf > 0 {
    socket.set_recv_buffer_size(rcvbuf)?;
  }
  socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
  socket.set_nonblocking(true)?;
  Ok(UdpSocket::from_std(socket.into())?)
}

fn local_port(listener: &TcpListener) -> Res<u16> {
  Ok(listener.local_addr()?.port())
}

/// Keeps `stream` open with a read pending (a readiness wait, no buffer) until the peer
/// closes it.
fn hold_idle(stream: TcpStream) {
  tokio::spawn(async move {
    let mut byte = [0u8; 1];
    loop {
      if stream.readable().await.is_err() {
        return;
      }
      match stream.try_read(&mut byte) {
        Ok(0) => return,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(_) => return,
      }
    }
  });
}

/// Lets spawned tasks reach their first await (their reads become pending).
async fn settle() {
  tokio::time::sleep(Duration::from_millis(200)).await;
}

// ---------------------------------------------------------------------------------------
// Measured sides

async fn side_tcp_send(p: &Params) -> Res<()> {
  let bytes = p.num("bytes")?;
  let chunk = vec![1u8; p.usize("chunk")?];
  let mut stream = TcpStream::connect(p.addr()?).await?;
  let t0 = Instant::now();
  let mut sent = 0u64;
  while sent < bytes {
    stream.write_all(&chunk).await?;
    sent += chunk.len() as u64;
  }
  stream.shutdown().await?;
  let mut reply = String::new();
  stream.read_to_string(&mut reply).await?;
  let secs = t0.elapsed().as_secs_f64();
  if reply.trim().parse::<u64>().ok() != Some(sent) {
    return Err(format!("sink got '{reply}' of {sent}").into());
  }
  emit_result(&[("rate", sent as f64 / 1e6 / secs)]);
  Ok(())
}

async fn side_tcp_recv(p: &Params) -> Res<()> {
  let bytes = p.num("bytes")?;
  let mut buf = vec![0u8; p.usize("chunk")?];
  let mut stream = TcpStream::connect(p.addr()?).await?;
  let t0 = Instant::now();
  let mut got = 0u64;
  loop {
    let n = stream.read(&mut buf).await?;
    if n == 0 {
      break;
    }
    got += n as u64;
  }
  let secs = t0.elapsed().as_secs_f64();
  stream.shutdown().await?;
  if got != bytes {
    return Err(format!("got {got} of {bytes}").into());
  }
  emit_result(&[("rate", got as f64 / 1e6 / secs)]);
  Ok(())
}

async fn side_tcp_rt(p: &Params) -> Res<()> {
  let n = p.usize("n")?;
  let warmup = p.usize("warmup")?;
  let size = p.usize("size")?;
  let mut stream = TcpStream::connect(p.addr()?).await?;
  stream.set_nodelay(true)?;
  let msg = vec![2u8; size];
  let mut buf = vec![0u8; size];
  for _ in 0..warmup {
    stream.write_all(&msg).await?;
    stream.read_exact(&mut buf).await?;
  }
  let mut latencies = Vec::with_capacity(n);
  let t0 = Instant::now();
  for _ in 0..n {
    let t = Instant::now();
    stream.write_all(&msg).await?;
    stream.read_exact(&mut buf).await?;
    latencies.push(t.elapsed().as_secs_f64() * 1e6);
  }
  let secs = t0.elapsed().as_secs_f64();
  latencies.sort_by(f64::total_cmp);
  emit_result(&[
    ("rate", n as f64 / secs),
    ("p50", percentile(&latencies, 0.5)),
    ("p99", percentile(&latencies, 0.99)),
  ]);
  Ok(())
}

/// `sorted[floor(q * (len - 1))]`, as the Node sides compute it.
fn percentile(sorted: &[f64], q: f64) -> f64 {
  if sorted.is_empty() {
    return f64::NAN;
  }
  sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

/// Runs `total` connect-and-close cycles, `parallel` at a time.
async fn connect_cycles(addr: SocketAddr, total: u64, parallel: u64) -> Res<()> {
  let next = Arc::new(AtomicU64::new(0));
  let mut workers = Vec::new();
  for _ in 0..parallel.min(total) {
    let next = next.clone();
    workers.push(tokio::spawn(async move {
      while next.fetch_add(1, Ordering::Relaxed) < total {
        let stream = TcpStream::connect(addr).await?;
        drop(stream);
      }
      Ok::<(), std::io::Error>(())
    }));
  }
  for worker in workers {
    worker.await??;
  }
  Ok(())
}

async fn side_tcp_connect(p: &Params) -> Res<()> {
  let addr = p.addr()?;
  let total = p.num("total")?;
  let parallel = p.num("parallel")?;
  connect_cycles(addr, p.num_or("warmup", 0)?, parallel).await?;
  let t0 = Instant::now();
  connect_cycles(addr, total, parallel).await?;
  emit_result(&[("rate", total as f64 / t0.elapsed().as_secs_f64())]);
  Ok(())
}

async fn side_tcp_accept(p: &Params) -> Res<()> {
  let total = p.num("total")?;
  if total < 2 {
    return Err("total must be at least 2".into());
  }
  let listener = listen(ACCEPT_BACKLOG)?;
  emit_port(local_port(&listener)?);
  let (first, _) = listener.accept().await?;
  let t0 = Instant::now();
  drop(first);
  for _ in 1..total {
    let (stream, _) = listener.accept().await?;
    drop(stream);
  }
  let secs = t0.elapsed().as_secs_f64();
  emit_result(&[("rate", (total - 1) as f64 / secs)]);
  Ok(())
}

async fn side_idle_client(p: &Params) -> Res<()> {
  let addr = p.addr()?;
  let (n, warm) = p.idle_counts()?;
  for _ in 0..warm {
    hold_idle(TcpStream::connect(addr).await?);
  }
  settle().await;
  let before = rss_kib();
  for _ in warm..n {
    hold_idle(TcpStream::connect(addr).await?);
  }
  settle().await;
  let after = rss_kib();
  emit_result(&[("kib", (after - before) / (n - warm) as f64)]);
  Ok(())
}

async fn side_idle_server(p: &Params) -> Res<()> {
  let (n, warm) = p.idle_counts()?;
  let listener = listen(DEEP_BACKLOG)?;
  emit_port(local_port(&listener)?);
  for _ in 0..warm {
    hold_idle(listener.accept().await?.0);
  }
  settle().await;
  let before = rss_kib();
  emit("{\"relay\":\"go\"}");
  for _ in warm..n {
    hold_idle(listener.accept().await?.0);
  }
  settle().await;
  let after = rss_kib();
  emit_result(&[("kib", (after - before) / (n - warm) as f64)]);
  Ok(())
}

/// Sends `n` datagrams of `size` bytes to 127.0.0.1:`port` as fast as it can; returns
/// datagrams per second.
async fn send_datagrams(p: &Params) -> Res<f64> {
  let n = p.num("n")?;
  let data = vec![7u8; p.usize("size")?];
  let socket = udp_bound(0)?;
  socket.connect(p.addr()?).await?;
  let t0 = Instant::now();
  for _ in 0..n {
    socket.send(&data).await?;
  }
  Ok(n as f64 / t0.elapsed().as_secs_f64())
}

async fn side_udp_send(p: &Params) -> Res<()> {
  emit_result(&[("rate", send_datagrams(p).await?)]);
  Ok(())
}

async fn side_udp_recv(p: &Params, stdin: &mut mpsc::UnboundedReceiver<String>) -> Res<()> {
  let n = p.num("n")?;
  let socket = udp_bound(p.usize("rcvbuf")?)?;
  emit_port(socket.local_addr()?.port());
  let mut buf = vec![0u8; 65536];
  let mut count = 0u64;
  let mut first = None;
  let mut last = Instant::now();
  // Until the sender says it is done (or the runner closes stdin).
  loop {
    tokio::select! {
      received = socket.recv(&mut buf) => {
        received?;
        last = Instant::now();
        first.get_or_insert(last);
        count += 1;
      }
      _ = stdin.recv() => break,
    }
  }
  // Then what the kernel still holds.
  let drain_end = Instant::now() + DRAIN_LIMIT;
  while Instant::now() < drain_end {
    match tokio::time::timeout(DRAIN_IDLE, socket.recv(&mut buf)).await {
      Ok(received) => {
        received?;
        last = Instant::now();
        first.get_or_insert(last);
        count += 1;
      }
      Err(_) => break,
    }
  }
  let window = first.map_or(0.0, |first| last.duration_since(first).as_secs_f64());
  emit_result(&[
    ("rate", count.saturating_sub(1) as f64 / window),
    ("loss", 100.0 * (1.0 - count as f64 / n as f64)),
  ]);
  Ok(())
}

// ---------------------------------------------------------------------------------------
// Peers

/// A server peer: `sink` counts bytes and answers the count once the client's side ends,
/// `source` sends `bytes` then ends, `echo` echoes, `drain` reads to the end. Serves until
/// stdin closes.
async fn peer_server(
  mode: &str,
  p: &Params,
  stdin: &mut mpsc::UnboundedReceiver<String>,
) -> Res<()> {
  let bytes = p.num_or("bytes", 0)?;
  let listener = listen(DEEP_BACKLOG)?;
  emit_port(local_port(&listener)?);
  loop {
    tokio::select! {
      accepted = listener.accept() => {
        let (stream, _) = accepted?;
        let _ = stream.set_nodelay(true);
        let mode = mode.to_string();
        tokio::spawn(async move {
          let _ = serve(&mode, stream, bytes).await;
        });
      }
      line = stdin.recv() => if line.is_none() { return Ok(()) },
    }
  }
}

async fn serve(mode: &str, mut stream: TcpStream, bytes: u64) -> std::io::Result<()> {
  let mut buf = vec![0u8; 64 * 1024];
  match mode {
    "sink" => {
      let mut got = 0u64;
      loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
          break;
        }
        got += n as u64;
      }
      stream.write_all(got.to_string().as_bytes()).await?;
      stream.shutdown().await?;
    }
    "source" => {
      buf.fill(7);
      let mut left = bytes;
      while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
      }
      stream.shutdown().await?;
      while stream.read(&mut buf).await? > 0 {}
    }
    "echo" => loop {
      let n = stream.read(&mut buf).await?;
      if n == 0 {
        stream.shutdown().await?;
        break;
      }
      stream.write_all(&buf[..n]).await?;
    },
    _ => while stream.read(&mut buf).await? > 0 {},
  }
  Ok(())
}

/// Opens `total` connections to `port`, `parallel` at a time; each reads until the server
/// closes it. Exits when all are done.
async fn peer_connect(p: &Params) -> Res<()> {
  let addr = p.addr()?;
  let total = p.num("total")?;
  let next = Arc::new(AtomicU64::new(0));
  let mut workers = Vec::new();
  for _ in 0..p.num("parallel")?.min(total) {
    let next = next.clone();
    workers.push(tokio::spawn(async move {
      let mut buf = [0u8; 256];
      while next.fetch_add(1, Ordering::Relaxed) < total {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
          continue;
        };
        while let Ok(n) = stream.read(&mut buf).await {
          if n == 0 {
            break;
          }
        }
      }
    }));
  }
  for worker in workers {
    worker.await?;
  }
  Ok(())
}

/// Opens `conns` connections, then has each do `rounds` round trips of `size` bytes (write,
/// read the echo back) at the same time, then close.
async fn peer_rt_clients(p: &Params) -> Res<()> {
  let addr = p.addr()?;
  let (conns, rounds, size) = (p.num("conns")?, p.num("rounds")?, p.num("size")? as usize);
  let mut streams = Vec::new();
  for _ in 0..conns {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    streams.push(stream);
  }
  let mut workers = Vec::new();
  for mut stream in streams {
    workers.push(tokio::spawn(async move {
      let msg = vec![5u8; size];
      let mut buf = vec![0u8; size];
      for _ in 0..rounds {
        stream.write_all(&msg).await?;
        stream.read_exact(&mut buf).await?;
      }
      stream.shutdown().await
    }));
  }
  for worker in workers {
    worker.await??;
  }
  Ok(())
}

/// Opens `warm` connections, waits for a line on stdin, opens the rest up to `n`, and
/// holds them all until stdin closes.
async fn peer_hold(p: &Params, stdin: &mut mpsc::UnboundedReceiver<String>) -> Res<()> {
  let addr = p.addr()?;
  let (n, warm) = p.idle_counts()?;
  for _ in 0..warm {
    hold_idle(TcpStream::connect(addr).await?);
  }
  if stdin.recv().await.is_none() {
    return Ok(());
  }
  for _ in warm..n {
    hold_idle(TcpStream::connect(addr).await?);
  }
  while stdin.recv().await.is_some() {}
  Ok(())
}

async fn peer_udp_sink(stdin: &mut mpsc::UnboundedReceiver<String>) -> Res<()> {
  let socket = udp_bound(4 * 1024 * 1024)?;
  emit_port(socket.local_addr()?.port());
  let mut buf = vec![0u8; 65536];
  let mut count = 0u64;
  loop {
    tokio::select! {
      received = socket.recv(&mut buf) => {
        if received.is_ok() {
          count += 1;
        }
      }
      line = stdin.recv() => if line.is_none() { break },
    }
  }
  emit(&format!("{{\"info\":{{\"received\":{count}}}}}"));
  Ok(())
}

/// Sends `n` datagrams of `size` bytes to 127.0.0.1:`port` as fast as it can, then relays
/// "done" to the receiver.
async fn peer_udp_blast(p: &Params) -> Res<()> {
  let rate = send_datagrams(p).await?;
  let n = p.num("n")?;
  emit(&format!(
    "{{\"info\":{{\"sent\":{n},\"rate\":{}}}}}",
    json_number(rate)
  ));
  emit("{\"relay\":\"done\"}");
  Ok(())
}
