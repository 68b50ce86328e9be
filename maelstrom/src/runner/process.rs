//! Node processes, launched the way Maelstrom launches them: the --bin path with the
//! trailing arguments, the inherited environment and /tmp as the working directory for
//! every node. stderr goes to `node-logs/<id>.log`; stdout lines go to the network.
//! The nemesis kills, restarts, pauses and resumes nodes through this module, which is
//! why one node id may have several incarnations over a run.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::journal::{Level, Source};
use super::network::Network;
use super::recorder::RunState;

/// How to start any node of the run.
pub struct NodeLaunch {
    pub bin: PathBuf,
    pub args: Vec<String>,
    pub log_dir: PathBuf,
    pub echo_stderr: bool,
}

/// A running process of a node.
struct Incarnation {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    /// Which start of the node this is; an output reader only speaks for its own.
    generation: u64,
    stderr_copier: JoinHandle<()>,
}

#[derive(Default)]
struct NodeState {
    /// None while the node is down (killed by the nemesis, or torn down).
    running: Option<Incarnation>,
    generation: u64,
    paused: bool,
}

pub struct NodeProcess {
    pub id: String,
    launch: Arc<NodeLaunch>,
    state: Mutex<NodeState>,
}

impl NodeProcess {
    pub fn new(id: String, launch: Arc<NodeLaunch>) -> Arc<NodeProcess> {
        Arc::new(NodeProcess {
            id,
            launch,
            state: Mutex::new(NodeState::default()),
        })
    }

    /// Starts (or restarts) the node and the threads that read its output. Like
    /// Maelstrom, registers the node on the network first: from then on its peers may
    /// send to it, even before its init.
    pub fn start(
        self: &Arc<Self>,
        network: &Arc<Network>,
        run: &Arc<RunState>,
    ) -> Result<(), String> {
        network.register_node(&self.id);
        let launch = &self.launch;
        let mut child = Command::new(&launch.bin)
            .args(&launch.args)
            .current_dir("/tmp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                format!(
                    "could not start node {} ({}): {error}",
                    self.id,
                    launch.bin.display()
                )
            })?;
        let pid = child.id();
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let log_path = launch.log_dir.join(format!("{}.log", self.id));
        // Appending, so a restarted node's log follows the one before it.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|error| format!("could not open {}: {error}", log_path.display()))?;
        let echo = launch.echo_stderr;
        let id = self.id.clone();
        let stderr_copier = thread::Builder::new()
            .name(format!("stderr-{id}"))
            .spawn(move || copy_stderr(&id, stderr, log, echo))
            .expect("spawning a stderr thread");

        let mut state = self.state.lock().unwrap();
        state.generation += 1;
        state.paused = false;
        let generation = state.generation;
        state.running = Some(Incarnation {
            child,
            stdin: Arc::new(Mutex::new(stdin)),
            generation,
            stderr_copier,
        });
        drop(state);
        let started = if generation == 1 {
            "started"
        } else {
            "restarted"
        };
        run.log(
            Level::Info,
            Source::Node,
            &format!("{} {started} (pid {pid}, start {generation})", self.id),
        );

        let node = Arc::clone(self);
        let network = Arc::clone(network);
        let run = Arc::clone(run);
        thread::Builder::new()
            .name(format!("stdout-{}", self.id))
            .spawn(move || node.read_stdout(generation, stdout, &network, &run))
            .expect("spawning a stdout thread");
        Ok(())
    }

    fn read_stdout(
        &self,
        generation: u64,
        stdout: impl std::io::Read,
        network: &Network,
        run: &RunState,
    ) {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    network.accept_from_node(&self.id, &line);
                }
                Err(error) => {
                    run.crash(format!("reading node {}'s stdout failed: {error}", self.id));
                    return;
                }
            }
        }
        self.on_stdout_closed(generation, run);
    }

    /// stdout closed: fine if the runner killed this incarnation, otherwise the node
    /// died (or closed stdout) before teardown, which fails the run.
    fn on_stdout_closed(&self, generation: u64, run: &RunState) {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let mut state = self.state.lock().unwrap();
            let Some(incarnation) = state.running.as_mut() else {
                return;
            };
            if incarnation.generation != generation {
                return;
            }
            let status = incarnation.child.try_wait();
            drop(state);
            match status {
                Ok(Some(status)) => {
                    run.crash(format!(
                        "node {} exited before teardown ({})",
                        self.id,
                        describe_exit(status)
                    ));
                    return;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    run.crash(format!(
                        "node {} closed its stdout before teardown",
                        self.id
                    ));
                    return;
                }
                Err(error) => {
                    run.crash(format!("node {} stopped: {error}", self.id));
                    return;
                }
            }
        }
    }

    /// Writes one line to the node's stdin; false if the node is down or its stdin broke.
    pub fn write_line(&self, line: &[u8]) -> bool {
        let stdin = match &self.state.lock().unwrap().running {
            Some(incarnation) => Arc::clone(&incarnation.stdin),
            None => return false,
        };
        // Outside the state lock: a paused node's full pipe blocks only this writer.
        let mut stdin = stdin.lock().unwrap();
        stdin.write_all(line).and_then(|()| stdin.flush()).is_ok()
    }

    /// SIGKILLs the node and reaps it. Its output reader then sees the end of stdout and,
    /// finding no incarnation of its generation, knows the death was ours.
    pub fn kill(&self) {
        let taken = self.state.lock().unwrap().running.take();
        let Some(mut incarnation) = taken else {
            return;
        };
        signal(&incarnation.child, libc::SIGKILL);
        let _ = incarnation.child.wait();
        self.state.lock().unwrap().paused = false;
        // The copier ends at the end of stderr, unless a grandchild holds the pipe open.
        let deadline = Instant::now() + Duration::from_millis(500);
        while !incarnation.stderr_copier.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pause(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(incarnation) = &state.running {
            signal(&incarnation.child, libc::SIGSTOP);
            state.paused = true;
        }
    }

    pub fn resume(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(incarnation) = &state.running {
            if state.paused {
                signal(&incarnation.child, libc::SIGCONT);
            }
        }
        state.paused = false;
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    // The child is not yet reaped (we hold its Child), so its pid cannot have been reused.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

fn copy_stderr(id: &str, stderr: impl std::io::Read, mut log: File, echo: bool) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    while let Ok(read) = reader.read_until(b'\n', &mut line) {
        if read == 0 {
            break;
        }
        // A full disk should not stop the test; the log is for humans.
        let _ = log.write_all(&line);
        if echo {
            let text = String::from_utf8_lossy(&line);
            eprint!("[{id}] {}", text);
            if !text.ends_with('\n') {
                eprintln!();
            }
        }
        line.clear();
    }
}
