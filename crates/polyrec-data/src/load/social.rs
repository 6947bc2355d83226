//! User-user edges (friendships, follows) between users the dataset knows.

use crate::spec::{SocialSpec, column};
use crate::{Result, RowError, Vocab};

use super::Loader;

impl Loader<'_> {
    /// Loads the edges; a row naming an unknown user is rejected.
    pub(super) fn load_social(&mut self, s: &SocialSpec, users: &Vocab) -> Result<Vec<(u32, u32)>> {
        let path = self.path(&s.file);
        let t = self.open(&s.file)?;
        let before = self.rejects.len();
        let uc = column(&t.header, &s.user, &path)?;
        let fc = column(&t.header, &s.friend, &path)?;
        let mut edges = Vec::with_capacity(t.len());
        for r in 0..t.len() {
            let line = t.line(r);
            let mut ids = [0u32; 2];
            let mut ok = true;
            for (k, (c, name)) in [(uc, &s.user), (fc, &s.friend)].into_iter().enumerate() {
                match users.get(t.cell(r, c).trim()) {
                    Some(u) => ids[k] = u,
                    None => {
                        self.rejects.push(RowError::new(
                            &path,
                            line,
                            name,
                            t.cell(r, c),
                            "unknown user id",
                        ))?;
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                edges.push((ids[0], ids[1]));
            }
        }
        let rejected = t.errors.len() + self.rejects.len() - before;
        self.account(&path, t.total_rows(), rejected);
        Ok(edges)
    }
}
