//! How objects are named in questions and answers: a canonical name per category (the one
//! answers use), synonyms the questions draw from ("couch" / "sofa"), and plurals for counting.

use crate::scene::Category;

/// Names of one askable category.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The category.
    pub category: Category,
    /// The canonical name first (answers use it), then synonyms.
    pub names: &'static [&'static str],
    /// Plural of the canonical name, for counting questions.
    pub plural: &'static str,
}

/// Every category that questions may name. Structure (floor, wall, ceiling), the catch-all
/// "other" classes and mass nouns (clothes, paper, blinds) are not asked about.
pub const NAMES: &[Names] = &[
    n(Category::Cabinet, &["cabinet", "cupboard"], "cabinets"),
    n(Category::Bed, &["bed"], "beds"),
    n(Category::Chair, &["chair", "seat"], "chairs"),
    n(Category::Sofa, &["sofa", "couch"], "sofas"),
    n(Category::Table, &["table"], "tables"),
    n(Category::Door, &["door"], "doors"),
    n(Category::Window, &["window"], "windows"),
    n(
        Category::Bookshelf,
        &["bookshelf", "bookcase"],
        "bookshelves",
    ),
    n(Category::Picture, &["picture", "painting"], "pictures"),
    n(Category::Counter, &["counter", "countertop"], "counters"),
    n(Category::Desk, &["desk", "writing desk"], "desks"),
    n(Category::Shelves, &["shelf", "shelving unit"], "shelves"),
    n(Category::Curtain, &["curtain", "drape"], "curtains"),
    n(
        Category::Dresser,
        &["dresser", "chest of drawers"],
        "dressers",
    ),
    n(Category::Pillow, &["pillow", "cushion"], "pillows"),
    n(Category::Mirror, &["mirror"], "mirrors"),
    n(Category::FloorMat, &["rug", "floor mat", "carpet"], "rugs"),
    n(
        Category::Refrigerator,
        &["refrigerator", "fridge"],
        "refrigerators",
    ),
    n(Category::Television, &["tv", "television"], "tvs"),
    n(Category::Towel, &["towel"], "towels"),
    n(Category::Box, &["box"], "boxes"),
    n(Category::Whiteboard, &["whiteboard"], "whiteboards"),
    n(
        Category::Nightstand,
        &["nightstand", "bedside table", "night table"],
        "nightstands",
    ),
    n(Category::Toilet, &["toilet"], "toilets"),
    n(Category::Sink, &["sink", "basin"], "sinks"),
    n(Category::Lamp, &["lamp", "light"], "lamps"),
    n(Category::Bathtub, &["bathtub", "tub"], "bathtubs"),
    n(Category::Bag, &["bag"], "bags"),
    n(
        Category::GarbageBin,
        &["trash can", "garbage bin", "wastebasket"],
        "trash cans",
    ),
    n(
        Category::ShowerCurtain,
        &["shower curtain"],
        "shower curtains",
    ),
    n(Category::Books, &["book", "stack of books"], "books"),
    n(Category::Cup, &["cup", "mug"], "cups"),
    n(
        Category::Monitor,
        &["monitor", "computer screen"],
        "monitors",
    ),
    n(
        Category::Laptop,
        &["laptop", "notebook computer"],
        "laptops",
    ),
    n(Category::Keyboard, &["keyboard"], "keyboards"),
    n(Category::Plant, &["plant", "potted plant"], "plants"),
    n(Category::Bottle, &["bottle"], "bottles"),
    n(Category::Vase, &["vase"], "vases"),
    n(Category::Bowl, &["bowl"], "bowls"),
];

const fn n(category: Category, names: &'static [&'static str], plural: &'static str) -> Names {
    Names {
        category,
        names,
        plural,
    }
}

/// The names of `category`, if questions may name it.
pub fn names_of(category: Category) -> Option<&'static Names> {
    NAMES.iter().find(|n| n.category == category)
}

/// The canonical (answer) name of `category`: the first entry of [`NAMES`], or the category's
/// own name for structure ("floor", "wall").
pub fn canonical_name(category: Category) -> &'static str {
    names_of(category).map_or(category.name(), |n| n.names[0])
}

/// Maps a name or synonym (already lower case, single-spaced) to its canonical name.
pub fn canonical_of(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|n| n.names.contains(&name) || n.plural == name)
        .map(|n| n.names[0])
}

/// Every name and synonym with its canonical name, longest first (for replacing names inside
/// sentences without a short name eating part of a longer one).
pub fn all_synonyms_longest_first() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&str, &str)> = NAMES
        .iter()
        .flat_map(|n| n.names.iter().map(move |s| (*s, n.names[0])))
        .collect();
    all.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    all
}

/// The canonical names of the object categories a text names (any name, synonym or plural, as
/// whole words, longer names first so "coffee table" is not read as "table"), each once.
pub fn named_categories(text: &str) -> Vec<&'static str> {
    let mut rest = format!(
        " {} ",
        text.to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut named: Vec<&str> = Vec::new();
    let mut forms: Vec<(&str, &str)> = all_synonyms_longest_first();
    forms.extend(NAMES.iter().map(|n| (n.plural, n.names[0])));
    forms.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    for (form, canonical) in forms {
        let needle = format!(" {form} ");
        while let Some(i) = rest.find(&needle) {
            rest.replace_range(i + 1..i + needle.len() - 1, &"#".repeat(form.len()));
            if !named.contains(&canonical) {
                named.push(canonical);
            }
        }
    }
    named
}

/// The category whose canonical name is `canonical` (as [`named_categories`] gives them).
pub fn category_named(canonical: &str) -> Option<Category> {
    NAMES
        .iter()
        .find(|n| n.names[0] == canonical)
        .map(|n| n.category)
}

/// Ids of the objects of `scene` whose category a text names ([`named_categories`]).
pub fn mentioned_objects(scene: &crate::scene::Scene, text: &str) -> Vec<u32> {
    let named = named_categories(text);
    scene
        .objects
        .iter()
        .filter(|o| named.contains(&canonical_name(o.category)))
        .map(|o| o.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_categories_reads_longer_names_first_and_plurals() {
        assert_eq!(
            named_categories("Is the writing desk near the two Chairs, by the couch?"),
            vec!["desk", "chair", "sofa"]
        );
        assert_eq!(named_categories("what is this?"), Vec::<&str>::new());
        // Each canonical name leads back to its category.
        for n in NAMES {
            assert_eq!(category_named(n.names[0]), Some(n.category));
        }
        assert_eq!(
            category_named("couch"),
            None,
            "a synonym is not a canonical name"
        );
    }

    #[test]
    fn synonyms_are_unambiguous() {
        let mut seen = std::collections::HashMap::new();
        for n in NAMES {
            for s in n.names.iter().chain(std::iter::once(&n.plural)) {
                if let Some(prev) = seen.insert(*s, n.category) {
                    assert_eq!(prev, n.category, "{s} names two categories");
                }
            }
        }
        assert_eq!(canonical_of("couch"), Some("sofa"));
        assert_eq!(canonical_of("bedside table"), Some("nightstand"));
        assert_eq!(canonical_of("sofa"), Some("sofa"));
        assert_eq!(canonical_of("spaceship"), None);
        assert_eq!(canonical_name(Category::Floor), "floor");
    }
}
