//! The filesystem checks of a configuration: the files it reads exist and are files, the
//! folders exist, live-capture devices exist, and the data directory and the file sinks'
//! folders can be written (or created). Nothing is created or left behind.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::error::{ConfigError, Locator};
use super::{Config, InputKind, SinkSettings};

pub fn check(cfg: &Config, text: &str) -> Result<(), ConfigError> {
    let root = DeTable::parse(text).map_err(|e| ConfigError::file(&cfg.file, e.to_string()))?;
    let loc = Locator::new(&cfg.file, text, root);
    for (i, input) in cfg.inputs.iter().enumerate() {
        match &input.kind {
            InputKind::Files { paths } => {
                for (j, p) in paths.iter().enumerate() {
                    is_file(p).map_err(|e| loc.error(&format!("input[{i}].paths[{j}]"), e))?;
                }
            }
            InputKind::Folder { path, .. } => {
                if !path.is_dir() {
                    let why = if path.exists() {
                        "is not a folder"
                    } else {
                        "does not exist"
                    };
                    return Err(loc.error(
                        &format!("input[{i}].path"),
                        format!("{} {why}", path.display()),
                    ));
                }
            }
            InputKind::Stdin | InputKind::Tcp { .. } => {}
            InputKind::Unix { path } => {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                if dir.is_some_and(|d| !d.is_dir()) {
                    return Err(loc.error(
                        &format!("input[{i}].path"),
                        format!("{}: its folder does not exist", path.display()),
                    ));
                }
                if path.exists() {
                    use std::os::unix::fs::FileTypeExt;
                    let socket =
                        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
                    if !socket {
                        return Err(loc.error(
                            &format!("input[{i}].path"),
                            format!(
                                "{} exists and is not a socket (an old socket is replaced; nothing else is)",
                                path.display()
                            ),
                        ));
                    }
                }
            }
            InputKind::Interface { device, .. } => {
                interface_exists(device)
                    .map_err(|e| loc.error(&format!("input[{i}].device"), e))?;
            }
        }
    }
    if let Some(z) = &cfg.zones {
        if let Some(c) = &z.cells {
            is_file(c).map_err(|e| loc.error("zones.cells", e))?;
        }
    }
    check_writable_dir(&cfg.runtime.data_dir).map_err(|e| {
        loc.error(
            "runtime.data_dir",
            format!("the data directory cannot be used: {e}"),
        )
    })?;
    for (i, s) in cfg.sinks.iter().enumerate() {
        if let SinkSettings::File(f) = s {
            if f.path.is_dir() {
                return Err(loc.error(
                    &format!("sink[{i}].path"),
                    format!("{} is a folder; name a file in it", f.path.display()),
                ));
            }
            let folder = f
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            check_writable_dir(folder).map_err(|e| {
                loc.error(
                    &format!("sink[{i}].path"),
                    format!("cannot write there: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

fn is_file(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!("{} is not a file", p.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!("{} does not exist", p.display())),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// A network device the kernel knows (Linux: `/sys/class/net/NAME`); `any` is libpcap's
/// all-devices pseudo-interface. Elsewhere libpcap itself says when it opens the device.
fn interface_exists(device: &str) -> Result<(), String> {
    let sys = Path::new("/sys/class/net");
    if device == "any" || !sys.is_dir() || sys.join(device).exists() {
        return Ok(());
    }
    let mut known: Vec<String> = std::fs::read_dir(sys)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    Err(format!(
        "no network interface {device:?} on this machine (it has: {})",
        known.join(", ")
    ))
}

/// Whether `dir` can hold files written by this process: an existing folder that takes a
/// new file, or a missing one whose nearest existing ancestor is such a folder (so it can
/// be created). The probe file is removed at once.
pub fn check_writable_dir(dir: &Path) -> Result<(), String> {
    let mut probe_in: PathBuf = dir.to_owned();
    loop {
        match std::fs::metadata(&probe_in) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(if probe_in == dir {
                    format!("{} is a file, not a folder", dir.display())
                } else {
                    format!(
                        "{} is a file, in the way of {}",
                        probe_in.display(),
                        dir.display()
                    )
                })
            }
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                match probe_in.parent() {
                    Some(p) if !p.as_os_str().is_empty() => probe_in = p.to_owned(),
                    _ => {
                        probe_in = PathBuf::from(".");
                        break;
                    }
                }
            }
            Err(e) => return Err(format!("{}: {e}", probe_in.display())),
        }
    }
    let probe = probe_in.join(format!(".landfall-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if probe_in == dir => Err(format!("{} is not writable: {e}", dir.display())),
        Err(e) => Err(format!(
            "{} does not exist and cannot be created in {}: {e}",
            dir.display(),
            probe_in.display()
        )),
    }
}
