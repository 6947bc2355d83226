//! The in-memory dataset: users, items, the interaction log, tasks, the knowledge graph and
//! social edges, in dense indices. The loader that builds it lives in [`crate::load`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{LoadReport, Vocab};

/// A typed attribute column of users or items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Column {
    /// Codes into a vocabulary whose index 0 is the out-of-vocabulary / missing bucket.
    Categorical {
        /// The vocabulary (index 0: `<oov>`).
        vocab: Vocab,
        /// One code per row.
        codes: Vec<u32>,
    },
    /// Numbers; NaN where the value is missing.
    Numeric(Vec<f32>),
}

/// A named attribute column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Column name.
    pub name: String,
    /// The values.
    pub column: Column,
}

/// Users: dense ids, free text and attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Users {
    /// Raw id <-> dense index.
    pub ids: Vocab,
    /// Free text per user, from the spec's template.
    pub texts: Vec<Option<String>>,
    /// Typed attributes.
    pub attributes: Vec<Attribute>,
}

/// Items: dense ids, display names, free text and attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Items {
    /// Raw id <-> dense index.
    pub ids: Vocab,
    /// Display name per item (e.g. "Heat (1995)").
    pub names: Vec<Option<String>>,
    /// Free text per item, from the spec's template.
    pub texts: Vec<Option<String>>,
    /// Typed attributes.
    pub attributes: Vec<Attribute>,
}

/// The interaction log, column by column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    /// Dense user index per row.
    pub user: Vec<u32>,
    /// Dense item index per row.
    pub item: Vec<u32>,
    /// Scenario index per row (into [`Dataset::scenarios`]).
    pub scenario: Vec<u16>,
    /// Timestamp per row (0 when the log has none).
    pub timestamp: Vec<i64>,
    /// One label column per task, in task order.
    pub labels: Vec<Vec<f32>>,
    /// Text per row (e.g. a review), when the spec defines one.
    pub texts: Option<Vec<Option<String>>>,
    /// Source line of each row.
    pub lines: Vec<u32>,
}

impl Interactions {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.user.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// The rows at `rows`, in that order, with every column (users, items, scenarios,
    /// timestamps, labels, texts, source lines) taken consistently. Panics on an index
    /// past the end, like slice indexing.
    pub fn select(&self, rows: &[usize]) -> Interactions {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        Interactions {
            user: pick(&self.user, rows),
            item: pick(&self.item, rows),
            scenario: pick(&self.scenario, rows),
            timestamp: pick(&self.timestamp, rows),
            labels: self.labels.iter().map(|l| pick(l, rows)).collect(),
            texts: self.texts.as_ref().map(|t| pick(t, rows)),
            lines: pick(&self.lines, rows),
        }
    }
}

/// Task kinds, with the classes of a multiclass task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// 0/1 labels.
    Binary,
    /// Real-valued labels.
    Regression,
    /// Class indices. The classes are numbered in order of first appearance in the files as
    /// they are read (the user catalog, then the item catalog, then the interaction log, each
    /// top to bottom): class `i` is label value `i`. This is the one definition of the
    /// order; [`crate::spec::TaskKindSpec::Multiclass`] refers to it.
    Multiclass {
        /// Class names, indexed by label value.
        classes: Vec<String>,
    },
}

impl TaskKind {
    /// The kind of a task declared as `spec`, with the classes a multiclass task met, in
    /// order of first appearance.
    pub(crate) fn from_spec(spec: crate::spec::TaskKindSpec, classes: &Vocab) -> Self {
        use crate::spec::TaskKindSpec;
        match spec {
            TaskKindSpec::Binary => Self::Binary,
            TaskKindSpec::Regression => Self::Regression,
            TaskKindSpec::Multiclass => Self::Multiclass {
                classes: classes.names().to_vec(),
            },
        }
    }
}

/// A task of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: TaskKind,
}

/// A knowledge-graph triple of dense indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Triple {
    /// Head entity.
    pub head: u32,
    /// Relation.
    pub relation: u32,
    /// Tail entity.
    pub tail: u32,
}

/// A link from an item to a knowledge-graph entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemLink {
    /// Dense item index.
    pub item: u32,
    /// Entity index.
    pub entity: u32,
}

/// Knowledge-graph data, in dense indices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KgData {
    /// Entity ids.
    pub entities: Vocab,
    /// Relation names.
    pub relations: Vocab,
    /// Triples.
    pub triples: Vec<Triple>,
    /// Item-entity links.
    pub item_links: Vec<ItemLink>,
    /// Entity display names, where the data has them.
    pub entity_names: HashMap<u32, String>,
}

/// A tag log: users attaching free-text tags to items, column by column, with the tags
/// normalised into a topic vocabulary.
///
/// A topic's key is its tag trimmed, lower-cased and with inner whitespace collapsed to one
/// space (see [`TagLog::normalise`]), so "Dark  Comedy" and "dark comedy" are one topic; its
/// display form is the first spelling met in the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagLog {
    /// Normalised topic key <-> topic index.
    pub topics: Vocab,
    /// Display form per topic (the first spelling in the file).
    pub display: Vec<String>,
    /// Dense user index per application.
    pub user: Vec<u32>,
    /// Dense item index per application.
    pub item: Vec<u32>,
    /// Topic index per application.
    pub topic: Vec<u32>,
    /// Seconds per application; the row's position in the file when the spec names no
    /// timestamp column.
    pub timestamp: Vec<i64>,
}

impl TagLog {
    /// Number of tag applications.
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// Whether the log has no application.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// The topic key of a free-text tag: trimmed, lower-cased, inner whitespace collapsed
    /// to one space. Empty when the tag is only whitespace.
    ///
    /// ```
    /// assert_eq!(polyrec_data::TagLog::normalise("  Dark\tComedy "), "dark comedy");
    /// ```
    pub fn normalise(tag: &str) -> String {
        tag.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The topic index of a tag in any spelling, if the log has it.
    pub fn topic_of(&self, tag: &str) -> Option<u32> {
        self.topics.get(&Self::normalise(tag))
    }

    /// Adds one application, creating the topic at its first spelling.
    pub(crate) fn push(&mut self, user: u32, item: u32, key: &str, shown: &str, time: i64) {
        let (t, new) = self.topics.insert(key);
        if new {
            self.display.push(shown.trim().to_string());
        }
        self.user.push(user);
        self.item.push(item);
        self.topic.push(t);
        self.timestamp.push(time);
    }
}

/// A loaded dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Name from the spec.
    pub name: String,
    /// Users.
    pub users: Users,
    /// Items.
    pub items: Items,
    /// Interactions.
    pub interactions: Interactions,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Tasks, in label order.
    pub tasks: Vec<Task>,
    /// Knowledge graph, if the spec has one.
    pub kg: Option<KgData>,
    /// User-user edges.
    pub social: Vec<(u32, u32)>,
    /// The tag log, if the spec has one.
    pub tags: Option<TagLog>,
    /// Row accounting.
    pub report: LoadReport,
}

impl Dataset {
    /// Index of a task by name.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }

    /// Rebuilds the vocabularies' lookup tables, which are not serialised (after reading a
    /// cache entry).
    pub(crate) fn reindex(&mut self) {
        self.users.ids.reindex();
        self.items.ids.reindex();
        for a in self
            .users
            .attributes
            .iter_mut()
            .chain(self.items.attributes.iter_mut())
        {
            if let Column::Categorical { vocab, .. } = &mut a.column {
                vocab.reindex();
            }
        }
        if let Some(t) = &mut self.tags {
            t.topics.reindex();
        }
        if let Some(kg) = &mut self.kg {
            kg.entities.reindex();
            kg.relations.reindex();
        }
    }
}
