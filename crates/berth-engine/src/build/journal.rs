//! What a running build has made (containers, snapshots, images), one
//! line per item in `<data-root>/build/journal/<id>`, so a build cut short
//! by a daemon crash is undone at the next start. A finished build drops
//! its journal: its images are then cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Result;

/// One build's journal.
#[derive(Clone, Debug)]
pub struct Journal(Arc<Mutex<Option<(PathBuf, std::fs::File)>>>);

/// What a journal lists.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub containers: Vec<String>,
    pub snapshots: Vec<String>,
    pub images: Vec<String>,
}

impl Journal {
    pub fn create(dir: &Path) -> Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(crate::util::new_id());
        let f = std::fs::File::create(&path)?;
        Ok(Journal(Arc::new(Mutex::new(Some((path, f))))))
    }

    fn write(&self, kind: char, id: &str) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, f)) = g.as_mut() {
            // Written before the item is used: a crash after this line
            // finds it; the write is small and appended.
            let _ = writeln!(f, "{kind} {id}");
        }
    }

    pub fn container(&self, id: &str) {
        self.write('c', id)
    }
    pub fn container_done(&self, id: &str) {
        self.write('C', id)
    }
    pub fn snapshot(&self, key: &str) {
        self.write('s', key)
    }
    pub fn snapshot_done(&self, key: &str) {
        self.write('S', key)
    }
    pub fn image(&self, id: &str) {
        self.write('i', id)
    }

    /// The build ended (well or not): its journal goes.
    pub fn finish(&self) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, _)) = g.take() {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Reads (and removes) the journals left in `dir` by a crash.
    pub fn leftovers(dir: &Path) -> Leftovers {
        let mut l = Leftovers::default();
        let Ok(rd) = std::fs::read_dir(dir) else {
            return l;
        };
        for e in rd.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            l.merge(&parse(&text));
            let _ = std::fs::remove_file(e.path());
        }
        l
    }
}

impl Leftovers {
    fn merge(&mut self, o: &Leftovers) {
        self.containers.extend(o.containers.iter().cloned());
        self.snapshots.extend(o.snapshots.iter().cloned());
        self.images.extend(o.images.iter().cloned());
    }
}

/// A journal's text to what is still around (created and not done).
pub fn parse(text: &str) -> Leftovers {
    let mut l = Leftovers::default();
    for line in text.lines() {
        let Some((k, id)) = line.split_once(' ') else {
            continue;
        };
        let id = id.to_string();
        match k {
            "c" => l.containers.push(id),
            "C" => l.containers.retain(|x| *x != id),
            "s" => l.snapshots.push(id),
            "S" => l.snapshots.retain(|x| *x != id),
            "i" => l.images.push(id),
            _ => {}
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_items_are_not_leftovers() {
        let l = parse("c a\ns k1\ni sha256:1\nC a\nc b\nS k1\ni sha256:2\n");
        assert_eq!(l.containers, vec!["b"]);
        assert!(l.snapshots.is_empty());
        assert_eq!(l.images, vec!["sha256:1", "sha256:2"]);
    }

    #[test]
    fn finished_journals_vanish() {
        let t = tempfile::tempdir().unwrap();
        let j = Journal::create(t.path()).unwrap();
        j.container("x");
        let j2 = Journal::create(t.path()).unwrap();
        j2.image("sha256:y");
        j.finish();
        let l = Journal::leftovers(t.path());
        assert_eq!(l.images, vec!["sha256:y"]);
        assert!(l.containers.is_empty());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }
}
