//! Who tagged what with which topic, and when; the per-user temporal hold-out.

use polyrec_data::TagLog;

use crate::{Error, Result};

/// One tag application: a user attached a topic to an item at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Application {
    /// Dense user index.
    pub user: u32,
    /// Dense item index.
    pub item: u32,
    /// Topic index.
    pub topic: u32,
    /// Seconds (or the row's position in the file).
    pub time: i64,
}

/// The tag applications a model learns from, over `n_users` users, `n_items` items and
/// `n_topics` topics.
#[derive(Debug, Clone, Default)]
pub struct TagHistory {
    /// Users in the dataset.
    pub n_users: usize,
    /// Items in the dataset.
    pub n_items: usize,
    /// Topics in the vocabulary.
    pub n_topics: usize,
    /// The applications, in file order.
    pub applications: Vec<Application>,
}

/// A per-user temporal hold-out: each user's later applications are the test part.
#[derive(Debug, Clone)]
pub struct TemporalSplit {
    /// Everything before each user's cut (and every application of users with too few).
    pub train: TagHistory,
    /// Per held-out user, the distinct topics of their later applications.
    pub test: Vec<(u32, Vec<u32>)>,
}

impl TagHistory {
    /// The whole tag log of a dataset with `n_users` users and `n_items` items. An index
    /// out of range (a log from another dataset) is an error.
    pub fn from_log(log: &TagLog, n_users: usize, n_items: usize) -> Result<Self> {
        let n_topics = log.topics.len();
        let mut applications = Vec::with_capacity(log.len());
        for i in 0..log.len() {
            let a = Application {
                user: log.user[i],
                item: log.item[i],
                topic: log.topic[i],
                time: log.timestamp[i],
            };
            for (kind, index, len) in [
                ("user", a.user, n_users),
                ("item", a.item, n_items),
                ("topic", a.topic, n_topics),
            ] {
                if index as usize >= len {
                    return Err(Error::OutOfRange { kind, index, len });
                }
            }
            applications.push(a);
        }
        Ok(Self {
            n_users,
            n_items,
            n_topics,
            applications,
        })
    }

    /// Each user's applications in time order (ties keep file order).
    pub fn by_user(&self) -> Vec<Vec<Application>> {
        let mut per = vec![Vec::new(); self.n_users];
        for a in &self.applications {
            per[a.user as usize].push(*a);
        }
        for list in &mut per {
            list.sort_by_key(|a| a.time);
        }
        per
    }

    /// The per-user temporal hold-out: a user with at least `min_applications` applications
    /// gives the last `floor(n * test_fraction)` of them, in time order (ties keep file
    /// order), to the test part; everything else is training. Deterministic: no seed.
    pub fn temporal_split(&self, test_fraction: f64, min_applications: usize) -> TemporalSplit {
        let mut train = Self {
            applications: Vec::new(),
            ..self.clone()
        };
        let mut test = Vec::new();
        for (u, list) in self.by_user().into_iter().enumerate() {
            let n_test = if list.len() >= min_applications.max(1) {
                (list.len() as f64 * test_fraction).floor() as usize
            } else {
                0
            };
            let cut = list.len() - n_test.min(list.len());
            train.applications.extend_from_slice(&list[..cut]);
            if cut < list.len() {
                let mut topics: Vec<u32> = list[cut..].iter().map(|a| a.topic).collect();
                topics.sort_unstable();
                topics.dedup();
                test.push((u as u32, topics));
            }
        }
        TemporalSplit { train, test }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(user: u32, topic: u32, time: i64) -> Application {
        Application {
            user,
            item: 0,
            topic,
            time,
        }
    }

    #[test]
    fn the_later_fifth_of_each_user_is_held_out() {
        let mut h = TagHistory {
            n_users: 2,
            n_items: 1,
            n_topics: 6,
            applications: Vec::new(),
        };
        // User 0: ten applications written out of time order; user 1: three (too few).
        for t in (0..10).rev() {
            h.applications.push(app(0, (t % 6) as u32, t));
        }
        h.applications
            .extend([app(1, 0, 1), app(1, 1, 2), app(1, 2, 3)]);
        let s = h.temporal_split(0.2, 5);
        assert_eq!(s.test, vec![(0, vec![2, 3])]);
        assert_eq!(s.train.applications.len(), 11);
        assert!(
            s.train
                .applications
                .iter()
                .all(|a| a.user == 1 || a.time < 8)
        );
    }
}
