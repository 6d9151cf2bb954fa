//! Native file dialogs (rfd) on a named thread, so the UI keeps drawing while one is open: the
//! scene dialog of the menu and the folder pickers of the training tab.

use std::path::PathBuf;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, bounded};

/// A native file dialog running on its own thread.
#[derive(Resource, Default)]
pub struct FileDialog {
    /// The dialog's answer, while one is open.
    pub rx: Option<Receiver<Option<PathBuf>>>,
    /// A note for the status bar (e.g. no dialog available).
    pub note: Option<String>,
}

impl FileDialog {
    /// Opens a scene file dialog, or a scan folder dialog with `folder`.
    pub fn open(&mut self, folder: bool) {
        if self.rx.is_some() {
            return;
        }
        let picked = if folder {
            pick_in_background("Open a ScanNet scan folder", None)
        } else {
            pick_in_background(
                "Open a scene",
                Some(("Scenes (PLY, 3D-FRONT JSON)", &["ply", "json"])),
            )
        };
        match picked {
            Ok(rx) => self.rx = Some(rx),
            Err(e) => self.note = Some(e),
        }
    }
}

/// Opens a native dialog on a named thread: a file dialog with `filter` (name, extensions), or a
/// folder dialog without one. The receiver gets the choice (`None` when cancelled or when no
/// dialog could be shown).
pub fn pick_in_background(
    title: &'static str,
    filter: Option<(&'static str, &'static [&'static str])>,
) -> Result<Receiver<Option<PathBuf>>, String> {
    let (tx, rx) = bounded(1);
    std::thread::Builder::new()
        .name("file-dialog".into())
        .spawn(move || {
            let dialog = rfd::FileDialog::new().set_title(title);
            let picked = match filter {
                Some((name, extensions)) => dialog.add_filter(name, extensions).pick_file(),
                None => dialog.pick_folder(),
            };
            let _ = tx.send(picked);
        })
        .map_err(|e| format!("cannot open a file dialog: {e}"))?;
    Ok(rx)
}
