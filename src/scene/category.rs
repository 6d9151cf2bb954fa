//! Canonical object categories and the mapping from raw dataset labels to them.
//!
//! Categories follow ScanNet's label table: the NYU40 classes, the 18 classes of the ScanNet 3D
//! detection benchmark (VoteNet's `cabinet … garbagebin`), plus the small objects Spatia's
//! generated scenes use (cup, monitor, laptop, …), each of which still has its NYU40 class.
//!
//! Raw labels (ScanNet `segGroups[].label`, 3D-FRONT `category` / `title`, generated labels) are
//! mapped by the table shipped in `assets/labels/label_map.tsv`, then by a head-noun fallback
//! ("kitchen chair" → chair), and finally to `otherprop`.

use std::collections::HashMap;
use std::sync::OnceLock;

macro_rules! categories {
    ($($variant:ident => ($name:literal, $nyu40:literal)),* $(,)?) => {
        /// A canonical object category.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Category {
            $($variant),*
        }

        impl Category {
            /// Every category, in declaration order.
            pub const ALL: &'static [Category] = &[$(Category::$variant),*];

            /// The canonical name (lower case, as written in JSON output and the label table).
            pub fn name(self) -> &'static str {
                match self {
                    $(Category::$variant => $name),*
                }
            }

            /// The NYU40 class id (1..=40) this category belongs to.
            pub fn nyu40_id(self) -> u8 {
                match self {
                    $(Category::$variant => $nyu40),*
                }
            }
        }
    };
}

categories! {
    Wall => ("wall", 1),
    Floor => ("floor", 2),
    Cabinet => ("cabinet", 3),
    Bed => ("bed", 4),
    Chair => ("chair", 5),
    Sofa => ("sofa", 6),
    Table => ("table", 7),
    Door => ("door", 8),
    Window => ("window", 9),
    Bookshelf => ("bookshelf", 10),
    Picture => ("picture", 11),
    Counter => ("counter", 12),
    Blinds => ("blinds", 13),
    Desk => ("desk", 14),
    Shelves => ("shelves", 15),
    Curtain => ("curtain", 16),
    Dresser => ("dresser", 17),
    Pillow => ("pillow", 18),
    Mirror => ("mirror", 19),
    FloorMat => ("floor mat", 20),
    Clothes => ("clothes", 21),
    Ceiling => ("ceiling", 22),
    Books => ("books", 23),
    Refrigerator => ("refrigerator", 24),
    Television => ("television", 25),
    Paper => ("paper", 26),
    Towel => ("towel", 27),
    ShowerCurtain => ("shower curtain", 28),
    Box => ("box", 29),
    Whiteboard => ("whiteboard", 30),
    Person => ("person", 31),
    Nightstand => ("nightstand", 32),
    Toilet => ("toilet", 33),
    Sink => ("sink", 34),
    Lamp => ("lamp", 35),
    Bathtub => ("bathtub", 36),
    Bag => ("bag", 37),
    OtherStructure => ("otherstructure", 38),
    OtherFurniture => ("otherfurniture", 39),
    OtherProp => ("otherprop", 40),
    GarbageBin => ("garbagebin", 39),
    Cup => ("cup", 40),
    Monitor => ("monitor", 40),
    Laptop => ("laptop", 40),
    Keyboard => ("keyboard", 40),
    Plant => ("plant", 40),
    Bottle => ("bottle", 40),
    Vase => ("vase", 40),
    Bowl => ("bowl", 40),
}

/// The 18 classes of the ScanNet 3D detection benchmark, in the benchmark's order and spelling.
pub const SCANNET18_CLASSES: [&str; 18] = [
    "cabinet",
    "bed",
    "chair",
    "sofa",
    "table",
    "door",
    "window",
    "bookshelf",
    "picture",
    "counter",
    "desk",
    "curtain",
    "refrigerator",
    "showercurtrain",
    "toilet",
    "sink",
    "bathtub",
    "garbagebin",
];

impl Category {
    /// The position of this category in [`Category::ALL`] (what dataset shards store).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The category at `index` in [`Category::ALL`].
    pub fn from_index(index: usize) -> Option<Category> {
        Category::ALL.get(index).copied()
    }

    /// Looks a canonical name up (the inverse of [`Category::name`]).
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Maps a raw dataset label to its canonical category.
    pub fn from_label(label: &str) -> Category {
        map_label(label)
    }

    /// Index into [`SCANNET18_CLASSES`], or `None` for categories outside the benchmark.
    pub fn scannet18_index(self) -> Option<usize> {
        let name = match self {
            Category::ShowerCurtain => "showercurtrain",
            other => other.name(),
        };
        SCANNET18_CLASSES.iter().position(|c| *c == name)
    }

    /// Floor, walls and ceiling: the room's shell rather than an object in it.
    pub fn is_structure(self) -> bool {
        matches!(self, Category::Wall | Category::Floor | Category::Ceiling)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const LABEL_MAP_TSV: &str = include_str!("../../assets/labels/label_map.tsv");

fn label_table() -> &'static HashMap<String, Category> {
    static TABLE: OnceLock<HashMap<String, Category>> = OnceLock::new();
    TABLE.get_or_init(|| parse_label_map(LABEL_MAP_TSV))
}

/// Parses the `raw label<TAB>category` table; comment lines start with `#`. Rows naming an
/// unknown category are skipped (a unit test checks that the shipped table has none).
fn parse_label_map(text: &str) -> HashMap<String, Category> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (raw, cat) = l.split_once('\t')?;
            Some((normalize_label(raw), Category::from_name(cat.trim())?))
        })
        .collect()
}

/// Lower case, `_`/`-` as spaces, single spaces, trimmed.
pub fn normalize_label(label: &str) -> String {
    label
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn singular(word: &str) -> Option<&str> {
    if word.len() > 3 && word.ends_with("es") && (word.ends_with("ches") || word.ends_with("shes"))
    {
        return Some(&word[..word.len() - 2]);
    }
    if word.len() > 2 && word.ends_with('s') && !word.ends_with("ss") {
        return Some(&word[..word.len() - 1]);
    }
    None
}

fn lookup(table: &HashMap<String, Category>, label: &str) -> Option<Category> {
    if let Some(c) = table.get(label) {
        return Some(*c);
    }
    let (head, last) = match label.rsplit_once(' ') {
        Some((h, l)) => (Some(h), l),
        None => (None, label),
    };
    let last_singular = singular(last)?;
    let candidate = match head {
        Some(h) => format!("{h} {last_singular}"),
        None => last_singular.to_string(),
    };
    table.get(&candidate).copied()
}

fn map_label(label: &str) -> Category {
    let table = label_table();
    let norm = normalize_label(label);
    if let Some(c) = lookup(table, &norm) {
        return c;
    }
    // 3D-FRONT style "generic/specific - variant" and "A / B / C" labels: try each piece.
    let pieces: Vec<String> = norm
        .split(['/', '&', ','])
        .map(|p| normalize_label(p.split(" - ").next().unwrap_or(p)))
        .filter(|p| !p.is_empty())
        .collect();
    for piece in pieces.iter().rev() {
        if let Some(c) = lookup(table, piece) {
            return c;
        }
    }
    // Head noun fallback: the last word of each piece ("kitchen chair" → "chair").
    for piece in pieces.iter().rev() {
        let mut words: Vec<&str> = piece.split(' ').collect();
        while words.len() > 1 {
            words.remove(0);
            if let Some(c) = lookup(table, &words.join(" ")) {
                return c;
            }
        }
    }
    Category::OtherProp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_names_only_known_categories() {
        for (i, line) in LABEL_MAP_TSV.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (_, cat) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("line {}: no tab", i + 1));
            assert!(
                Category::from_name(cat.trim()).is_some(),
                "line {}: unknown category {cat:?}",
                i + 1
            );
        }
    }

    #[test]
    fn maps_common_labels() {
        let cases = [
            ("couch", Category::Sofa),
            ("Office Chair", Category::Chair),
            ("trash can", Category::GarbageBin),
            ("trashcan", Category::GarbageBin),
            ("nightstand", Category::Nightstand),
            ("bedside table", Category::Nightstand),
            ("kitchen cabinets", Category::Cabinet),
            ("tv", Category::Television),
            ("books", Category::Books),
            ("book", Category::Books),
            ("coffee mug", Category::Cup),
            ("monitor", Category::Monitor),
            ("shower curtain", Category::ShowerCurtain),
            ("Dining Chair", Category::Chair),
            ("table/dining table - square", Category::Table),
            ("Bookcase / jewelry Armoire", Category::Bookshelf),
            ("Sideboard / Side Cabinet / Console", Category::Cabinet),
            ("lighting/pendant light", Category::Lamp),
            ("bed/king-size bed", Category::Bed),
            ("some totally unknown thing", Category::OtherProp),
            ("wooden kitchen chair", Category::Chair),
        ];
        for (label, want) in cases {
            assert_eq!(Category::from_label(label), want, "label {label:?}");
        }
    }

    #[test]
    fn scannet18_covers_exactly_the_benchmark() {
        let mapped: Vec<&str> = Category::ALL
            .iter()
            .filter_map(|c| c.scannet18_index().map(|i| SCANNET18_CLASSES[i]))
            .collect();
        assert_eq!(mapped.len(), 18);
        assert_eq!(Category::GarbageBin.scannet18_index(), Some(17));
        assert_eq!(Category::ShowerCurtain.scannet18_index(), Some(13));
        assert_eq!(Category::Cup.scannet18_index(), None);
    }

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.name()), Some(*c));
            assert!((1..=40).contains(&c.nyu40_id()));
        }
    }
}
