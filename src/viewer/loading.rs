//! Scene loading off the main thread. A load request spawns a named `scene-loader` thread that
//! reports stages and the result over a bounded channel; `drain_loader` reads it every frame.
//! A newer request drops the older receiver, so a stale load's result is never shown. A failed
//! load leaves the current scene in place and shows the error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, TryRecvError, bounded};

use super::StartupScene;
use super::recent::RecentScenes;
use crate::scene::bvh::Bvh;
use crate::scene::lod::{PointLod, build_lod};
use crate::scene::raycast::{RayHit, Sides};
use crate::scene::{LoadOptions, Scene, load_scene};

/// Ask for a scene to be loaded.
#[derive(Message, Debug, Clone)]
pub struct LoadRequest {
    /// What to open.
    pub path: PathBuf,
    /// 3D-FRONT options.
    pub options: LoadOptions,
}

/// Sent when a new scene replaced the current one.
#[derive(Message, Debug, Clone, Copy)]
pub struct SceneReplaced;

/// The scene on screen.
#[derive(Resource, Clone)]
pub struct CurrentScene {
    /// The loaded scene.
    pub scene: Arc<Scene>,
    /// Smooth per-vertex normals (meshes only).
    pub normals: Option<Arc<Vec<Vec3>>>,
    /// The octree drawing the points by level of detail (point clouds only).
    pub lod: Option<Arc<PointLod>>,
    /// The hierarchy picking and measuring cast their rays through.
    pub bvh: Arc<Bvh>,
    /// Where it came from.
    pub path: PathBuf,
    /// Wall time the load took.
    pub load_ms: f64,
}

impl CurrentScene {
    /// Everything drawing and picking need, built from a loaded scene (on the loader thread):
    /// smooth normals for meshes, the level-of-detail octree for point clouds, the picking
    /// hierarchy. `stage` hears the name of each step as it starts.
    pub fn prepare(mut scene: Scene, path: PathBuf, stage: &mut dyn FnMut(&'static str)) -> Self {
        stage("preparing geometry");
        let normals = smooth_normals(&scene).map(Arc::new);
        let lod = scene.triangles.is_none().then(|| {
            stage("building level of detail");
            let mut lod = build_lod(&scene.positions);
            // A bare cloud is stored in the octree's order: no order array to keep.
            lod.reorder(&mut scene);
            Arc::new(lod)
        });
        stage("building the picking hierarchy");
        let bvh = Arc::new(Bvh::build(&scene));
        CurrentScene {
            scene: Arc::new(scene),
            normals,
            lod,
            bvh,
            path,
            load_ms: 0.0,
        }
    }

    /// Bytes held on the heap: the scene's geometry with its smooth normals, the octree, the
    /// picking hierarchy.
    pub fn heap_bytes(&self) -> [usize; 3] {
        let normals = self.normals.as_deref().map_or(0, crate::scene::vec_bytes);
        let lod = self.lod.as_deref().map_or(0, PointLod::heap_bytes);
        [
            self.scene.heap_bytes() + normals,
            lod,
            self.bvh.heap_bytes(),
        ]
    }

    /// The first hit of the ray `origin + t·dir` (through the hierarchy; see
    /// `scene::raycast::raycast` for what counts as a hit).
    pub fn raycast(
        &self,
        origin: Vec3,
        dir: Vec3,
        point_radius_m: f32,
        sides: Sides,
    ) -> Option<RayHit> {
        self.bvh
            .raycast(&self.scene, origin, dir, point_radius_m, sides)
    }
}

/// What the loader thread reports.
pub enum LoadMsg {
    /// A stage of the load started.
    Stage(&'static str),
    /// The load finished.
    Done(Result<Box<CurrentScene>, String>),
}

/// The load in flight, if any, and the last error.
#[derive(Resource, Default)]
pub struct SceneLoader {
    rx: Option<Receiver<LoadMsg>>,
    /// The path being loaded and when it started.
    pub in_flight: Option<(PathBuf, Instant)>,
    /// The stage the loader last reported.
    pub stage: &'static str,
    /// The last load error, shown until dismissed or the next successful load.
    pub error: Option<String>,
    /// Set once the first load has finished, successfully or not.
    pub first_load_done: bool,
}

/// Loading plugin.
pub struct LoadPlugin;

impl Plugin for LoadPlugin {
    fn build(&self, app: &mut App) {
        if !app.world().contains_resource::<RecentScenes>() {
            app.insert_resource(RecentScenes::load());
        }
        app.init_resource::<SceneLoader>()
            .add_message::<LoadRequest>()
            .add_message::<SceneReplaced>()
            .add_systems(Startup, request_startup_scene)
            .add_systems(PreUpdate, (start_loads, drain_loader).chain());
    }
}

fn request_startup_scene(
    startup: Option<Res<StartupScene>>,
    mut requests: MessageWriter<LoadRequest>,
) {
    if let Some(s) = startup {
        requests.write(LoadRequest {
            path: s.path.clone(),
            options: s.options.clone(),
        });
    }
}

/// Per-vertex normals: area-weighted sums of the adjacent triangles' normals.
pub fn smooth_normals(scene: &Scene) -> Option<Vec<Vec3>> {
    let tris = scene.triangles.as_ref()?;
    let p = &scene.positions;
    let mut n = vec![Vec3::ZERO; p.len()];
    for t in tris {
        let [a, b, c] = t.map(|i| i as usize);
        let face = (p[b] - p[a]).cross(p[c] - p[a]);
        n[a] += face;
        n[b] += face;
        n[c] += face;
    }
    for v in &mut n {
        *v = v.try_normalize().unwrap_or(Vec3::Z);
    }
    Some(n)
}

fn load_on_thread(req: LoadRequest, tx: crossbeam_channel::Sender<LoadMsg>) {
    let start = Instant::now();
    let _ = tx.send(LoadMsg::Stage("reading"));
    let result = load_scene(&req.path, &req.options)
        .map_err(|e| e.to_string())
        .map(|scene| {
            let mut stage = |s| {
                let _ = tx.send(LoadMsg::Stage(s));
            };
            let mut current = CurrentScene::prepare(scene, req.path.clone(), &mut stage);
            current.load_ms = start.elapsed().as_secs_f64() * 1e3;
            Box::new(current)
        });
    let _ = tx.send(LoadMsg::Done(result));
}

fn start_loads(mut requests: MessageReader<LoadRequest>, mut loader: ResMut<SceneLoader>) {
    // Only the newest request matters.
    let Some(req) = requests.read().last().cloned() else {
        return;
    };
    let (tx, rx) = bounded(8);
    let path = req.path.clone();
    let spawned = std::thread::Builder::new()
        .name("scene-loader".into())
        .spawn(move || load_on_thread(req, tx));
    match spawned {
        Ok(_) => {
            loader.rx = Some(rx);
            loader.in_flight = Some((path, Instant::now()));
            loader.stage = "starting";
        }
        Err(e) => loader.error = Some(format!("cannot start the loader thread: {e}")),
    }
}

/// Applies what the loader thread reported since the last frame.
pub fn drain_loader(
    mut commands: Commands,
    mut loader: ResMut<SceneLoader>,
    mut recent: ResMut<RecentScenes>,
    mut replaced: MessageWriter<SceneReplaced>,
) {
    let Some(rx) = loader.rx.clone() else {
        return;
    };
    loop {
        match rx.try_recv() {
            Ok(LoadMsg::Stage(s)) => loader.stage = s,
            Ok(LoadMsg::Done(result)) => {
                loader.rx = None;
                loader.in_flight = None;
                loader.first_load_done = true;
                match result {
                    Ok(current) => {
                        loader.error = None;
                        recent.push(&current.path);
                        recent.save();
                        for w in &current.scene.warnings {
                            warn!("{w}");
                        }
                        commands.insert_resource(*current);
                        replaced.write(SceneReplaced);
                    }
                    Err(e) => {
                        error!("{e}");
                        loader.error = Some(e);
                    }
                }
                return;
            }
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => {
                loader.rx = None;
                loader.in_flight = None;
                loader.first_load_done = true;
                loader.error = Some("the loader thread stopped without a result".into());
                return;
            }
        }
    }
}
