//! The named worker thread: requests in, events out, both over bounded channels. Queued work
//! for an older scene and cancelled requests are dropped; a panic inside a request becomes an
//! error event and the worker restarts (models reloaded, caches cleared) without the caller
//! noticing more than that event. Training runs on its own named thread.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use candle_core::Device;
use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::engine::Engine;
use super::protocol::{Event, Request};
use crate::model::ModelError;
use crate::train::{TrainEvent, TrainPlan, run_plan};

/// Requests that may wait in the queue.
pub const REQUEST_CAPACITY: usize = 64;
/// Example questions offered per scene.
pub const SUGGESTIONS: usize = 12;
/// Events that may wait for the viewer.
pub const EVENT_CAPACITY: usize = 1024;

/// Errors talking to the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The queue is full.
    #[error("the model worker is busy ({REQUEST_CAPACITY} requests queued); try again")]
    Busy,
    /// The worker thread is gone.
    #[error("the model worker has stopped")]
    Stopped,
    /// The thread could not start.
    #[error("could not start the model worker thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// A handle to the worker thread.
pub struct Worker {
    requests: Sender<Request>,
    events: Receiver<Event>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread `spatia-worker` with the models on `device`.
    pub fn spawn(device: Device) -> Result<Worker, WorkerError> {
        let (req_tx, req_rx) = crossbeam_channel::bounded(REQUEST_CAPACITY);
        let (ev_tx, ev_rx) = crossbeam_channel::bounded(EVENT_CAPACITY);
        let handle = std::thread::Builder::new()
            .name("spatia-worker".into())
            .spawn(move || WorkerLoop::new(device, req_rx, ev_tx).run())?;
        Ok(Worker {
            requests: req_tx,
            events: ev_rx,
            handle: Some(handle),
        })
    }

    /// Queues a request without blocking.
    pub fn send(&self, request: Request) -> Result<(), WorkerError> {
        self.requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => WorkerError::Busy,
            TrySendError::Disconnected(_) => WorkerError::Stopped,
        })
    }

    /// The events (drain with `try_iter` each frame).
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }
}

/// How long closing the app waits for the worker to finish what it is doing (a training step
/// and its checkpoint, an answer) before leaving it behind.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Drop for Worker {
    /// Asks the thread to stop and waits at most [`SHUTDOWN_GRACE`]: a long job (rendering the
    /// views of a 20 M point cloud) must not keep a closed window's process alive for minutes.
    fn drop(&mut self) {
        let _ = self.requests.try_send(Request::Shutdown);
        let Some(h) = self.handle.take() else { return };
        let start = std::time::Instant::now();
        while !h.is_finished() && start.elapsed() < SHUTDOWN_GRACE {
            std::thread::sleep(Duration::from_millis(20));
        }
        if h.is_finished() {
            let _ = h.join();
        } else {
            eprintln!(
                "spatia: the model worker is still busy after {:.0} s; not waiting for it",
                SHUTDOWN_GRACE.as_secs_f32()
            );
        }
    }
}

struct Training {
    cancel: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

pub(super) struct WorkerLoop {
    engine: Engine,
    device: Device,
    requests: Receiver<Request>,
    events: Sender<Event>,
    queue: VecDeque<Request>,
    training: Option<Training>,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn request_id(r: &Request) -> Option<u64> {
    match r {
        Request::Ask { request_id, .. } | Request::Predict { request_id, .. } => Some(*request_id),
        _ => None,
    }
}

impl WorkerLoop {
    pub(super) fn new(
        device: Device,
        requests: Receiver<Request>,
        events: Sender<Event>,
    ) -> WorkerLoop {
        WorkerLoop {
            engine: Engine::new(device.clone()),
            device,
            requests,
            events,
            queue: VecDeque::new(),
            training: None,
        }
    }

    fn emit(&self, e: Event) {
        // Blocks for a while when the viewer is not draining; gives up rather than hang.
        let _ = self.events.send_timeout(e, Duration::from_secs(10));
    }

    /// Moves everything waiting in the channel into the queue, then drops cancelled requests
    /// and work queued before the newest scene change.
    fn absorb(&mut self) {
        while let Ok(r) = self.requests.try_recv() {
            self.queue.push_back(r);
        }
        let cancelled: Vec<u64> = self
            .queue
            .iter()
            .filter_map(|r| match r {
                Request::Cancel { request_id } => Some(*request_id),
                _ => None,
            })
            .collect();
        let last_scene = self
            .queue
            .iter()
            .rposition(|r| matches!(r, Request::SetScene { .. }));
        let mut kept = VecDeque::new();
        let mut dropped = Vec::new();
        for (i, r) in std::mem::take(&mut self.queue).into_iter().enumerate() {
            let stale = last_scene.is_some_and(|s| i < s);
            match (request_id(&r), &r) {
                (Some(id), _) if cancelled.contains(&id) || stale => dropped.push(id),
                (_, Request::Cancel { .. }) => {}
                (_, Request::SetScene { .. }) if last_scene.is_some_and(|s| i != s) => {}
                _ => kept.push_back(r),
            }
        }
        self.queue = kept;
        for request_id in dropped {
            self.emit(Event::Cancelled { request_id });
        }
    }

    /// Whether `id` was cancelled (or superseded by a scene change) since it started.
    fn interrupted(&mut self, id: u64) -> bool {
        self.absorb();
        self.queue.iter().any(|r| match r {
            Request::Cancel { request_id } => *request_id == id,
            Request::SetScene { .. } => true,
            _ => false,
        })
    }

    pub(super) fn run(mut self) {
        loop {
            if self.queue.is_empty() {
                match self.requests.recv() {
                    Ok(r) => self.queue.push_back(r),
                    Err(_) => break,
                }
            }
            self.absorb();
            let Some(request) = self.queue.pop_front() else {
                continue;
            };
            if matches!(request, Request::Shutdown) {
                break;
            }
            let id = request_id(&request);
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(request)));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.emit(Event::Error {
                    request_id: id,
                    message: e.to_string(),
                }),
                Err(p) => {
                    let message = format!("the model worker panicked: {}", panic_message(&*p));
                    self.emit(Event::Error {
                        request_id: id,
                        message: message.clone(),
                    });
                    self.restart(message);
                }
            }
        }
        if let Some(t) = self.training.take() {
            t.cancel.store(true, Ordering::Relaxed);
            let _ = t.handle.join();
        }
    }

    /// A fresh engine with the same models and scene.
    fn restart(&mut self, reason: String) {
        let dirs = self.engine.model_dirs();
        let scene = self.engine.scene();
        self.engine = Engine::new(self.device.clone());
        let mut results = Vec::new();
        for (role, dir) in dirs {
            results.push(self.engine.load_model(role, &dir));
        }
        if let Some((id, scene)) = scene {
            results.push(self.engine.set_scene(id, scene));
        }
        for r in results {
            self.emit(r.unwrap_or_else(|e| Event::Error {
                request_id: None,
                message: e.to_string(),
            }));
        }
        self.emit(Event::Restarted { reason });
    }

    fn handle(&mut self, request: Request) -> Result<(), ModelError> {
        let events = self.events.clone();
        let mut emit = move |e: Event| {
            let _ = events.send_timeout(e, Duration::from_secs(10));
        };
        match request {
            Request::LoadModel { role, dir } => {
                let e = self.engine.load_model(role, &dir)?;
                emit(e);
            }
            Request::SetScene { scene_id, scene } => {
                let e = self.engine.set_scene(scene_id, scene)?;
                emit(e);
                if let Some(e) = self.engine.suggestions(SUGGESTIONS) {
                    emit(e);
                }
            }
            Request::Ask {
                request_id,
                question,
                roles,
                attention,
            } => {
                for role in roles {
                    if self.interrupted(request_id) {
                        emit(Event::Cancelled { request_id });
                        return Ok(());
                    }
                    let e = self
                        .engine
                        .ask(request_id, &question, role, attention, &mut emit)?;
                    emit(e);
                }
            }
            Request::Predict { request_id, role } => {
                if self.interrupted(request_id) {
                    emit(Event::Cancelled { request_id });
                    return Ok(());
                }
                let e = self.engine.predict(request_id, role, &mut emit)?;
                emit(e);
            }
            Request::Cancel { .. } | Request::Shutdown => {}
            Request::StartTraining(t) => self.start_training(*t)?,
            Request::StopTraining => {
                if let Some(t) = &self.training {
                    t.cancel.store(true, Ordering::Relaxed);
                }
            }
            Request::Crash => panic!("crash requested"),
        }
        Ok(())
    }

    fn start_training(&mut self, req: TrainPlan) -> Result<(), ModelError> {
        if let Some(t) = &self.training
            && !t.handle.is_finished()
        {
            return Err(ModelError::Invalid(
                "a training run is already going; stop it first".into(),
            ));
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let events = self.events.clone();
        let device = self.device.clone();
        let flag = cancel.clone();
        let handle = std::thread::Builder::new()
            .name("spatia-trainer".into())
            .spawn(move || {
                let result = run_training(&req, &device, &events, &flag);
                if let Err(e) = result {
                    let _ = events.send_timeout(
                        Event::Training(TrainEvent::Failed {
                            error: e.to_string(),
                        }),
                        Duration::from_secs(10),
                    );
                }
            })
            .map_err(|e| ModelError::Invalid(format!("could not start training: {e}")))?;
        self.training = Some(Training { cancel, handle });
        Ok(())
    }
}

/// One training run with its events forwarded as [`Event::Training`] (the plan and the run
/// are the command line's: [`run_plan`]).
fn run_training(
    req: &TrainPlan,
    device: &Device,
    events: &Sender<Event>,
    cancel: &Arc<AtomicBool>,
) -> Result<(), ModelError> {
    let (tx, rx) = crossbeam_channel::bounded::<TrainEvent>(EVENT_CAPACITY);
    let out = events.clone();
    let forward = std::thread::Builder::new()
        .name("spatia-train-events".into())
        .spawn(move || {
            for e in rx {
                let _ = out.send_timeout(Event::Training(e), Duration::from_secs(10));
            }
        })
        .map_err(|e| ModelError::Invalid(format!("could not start training: {e}")))?;
    let result = run_plan(req, device, &tx, cancel, |_, _| {});
    if let Err(e) = &result {
        let _ = tx.send(TrainEvent::Failed {
            error: e.to_string(),
        });
    }
    drop(tx);
    let _ = forward.join();
    // A failure inside the run was forwarded as a Failed event already.
    Ok(())
}
