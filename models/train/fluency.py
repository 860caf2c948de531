"""A fluency measure for generated text that does not come from the model being measured: a
word trigram model with interpolated Kneser-Ney smoothing, trained on general English the flavour
corpus does not hold (WordNet 3.0's glosses and examples), scores how natural the order of a
text's words is.

`fluency(texts, real, model)` compares each set with itself shuffled: the per-token log-prob
of the texts minus that of the same texts with their words shuffled within each sentence (word
salad of the same words) is what their word order is worth; the score is the generated texts'
worth over the real held-out descriptions' (1.0: as natural an order as real prose, 0.0: no
better than shuffled). Shuffling keeps the words, so what a text is about and its rare words
cancel out; a collage of phrases that do not join scores below real prose.
"""

import math
import random
import re
from collections import Counter, defaultdict

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
DISCOUNT = 0.75


def tokens(sentence):
    """Lower-case words and punctuation of one sentence, with start and end markers."""
    return ["<s>", "<s>", *WORD.findall(sentence.lower()), "</s>"]


def sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


class KneserNey:
    """An interpolated Kneser-Ney trigram model over `corpus` (an iterable of sentences)."""

    def __init__(self, corpus):
        self.trigrams = Counter()
        for sentence in corpus:
            t = tokens(sentence)
            self.trigrams.update(zip(t, t[1:], t[2:]))
        bigrams_after = defaultdict(set)  # (u, v) -> w seen
        self.context3 = Counter()  # (u, v) -> count of trigrams
        for (u, v, w), n in self.trigrams.items():
            bigrams_after[(u, v)].add(w)
            self.context3[(u, v)] += n
        self.followers3 = {k: len(v) for k, v in bigrams_after.items()}
        # Continuation counts: how many distinct words precede a bigram / a word.
        preceders2 = defaultdict(set)
        for (u, v, w) in self.trigrams:
            preceders2[(v, w)].add(u)
        self.cont2 = {k: len(v) for k, v in preceders2.items()}
        self.context2 = Counter()
        followers2 = defaultdict(set)
        for (v, w), n in self.cont2.items():
            self.context2[v] += n
            followers2[v].add(w)
        self.followers2 = {k: len(v) for k, v in followers2.items()}
        preceders1 = defaultdict(set)
        for (v, w) in self.cont2:
            preceders1[w].add(v)
        self.cont1 = {k: len(v) for k, v in preceders1.items()}
        self.total1 = sum(self.cont1.values())
        self.vocabulary = len(self.cont1) + 1  # and one unknown word

    def probability(self, u, v, w):
        p = (self.cont1.get(w, 0) + 0.5) / (self.total1 + 0.5 * self.vocabulary)
        c2 = self.context2.get(v, 0)
        if c2:
            p = (max(self.cont2.get((v, w), 0) - DISCOUNT, 0) + DISCOUNT * self.followers2[v] * p) / c2
        c3 = self.context3.get((u, v), 0)
        if c3:
            p = (max(self.trigrams.get((u, v, w), 0) - DISCOUNT, 0) + DISCOUNT * self.followers3[(u, v)] * p) / c3
        return p

    def log_prob(self, sentence):
        """Natural-log probability of a sentence's tokens after the start markers, and their count."""
        t = tokens(sentence)
        return sum(math.log(self.probability(*t[i - 2:i + 1])) for i in range(2, len(t))), len(t) - 2


def mean_log_prob(model, texts):
    total = count = 0
    for text in texts:
        for sentence in sentences(text):
            lp, n = model.log_prob(sentence)
            total, count = total + lp, count + n
    return total / max(count, 1)


def shuffled(texts, seed=0):
    """The texts with each sentence's words in a random order (punctuation kept in place)."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        parts = []
        for sentence in sentences(text):
            words = sentence.split()
            rng.shuffle(words)
            parts.append(" ".join(words))
        out.append(" ".join(parts))
    return out


def order_gain(model, texts):
    """Per-token log-prob of `texts` minus that of the same texts shuffled: what their word order is worth."""
    return mean_log_prob(model, texts) - mean_log_prob(model, shuffled(texts))


def collage(texts, words, seed=0):
    """A control: `texts` cut into pieces of `words` words, the pieces shuffled across texts and
    joined again to the same lengths (what a text stitched from other texts' phrases reads like)."""
    rng = random.Random(seed)
    pieces = [t.split()[i:i + words] for t in texts for i in range(0, len(t.split()), words)]
    rng.shuffle(pieces)
    out, at = [], 0
    for text in texts:
        joined = []
        while len(joined) < len(text.split()) and at < len(pieces):
            joined += pieces[at]
            at += 1
        out.append(" ".join(joined))
    return out


def fluency(texts, real, model):
    """(score, order gain of `texts`, order gain of `real`): score = the first gain over the second."""
    generated, reference = order_gain(model, texts), order_gain(model, real)
    return generated / reference, generated, reference


# Words that carry a sentence's grammar. A text's *shape* keeps them and writes every other word
# as its length class, so a classifier of shapes sees how sentences are built, not what they
# are about (a CDDA machete and an SRD wand have the same shape of description).
FUNCTION_WORDS = set("""
a an the this that these those its it it's they them their there here his her he she him you your we our
of in on at by for from with without into onto upon over under above below between among through across
against along around behind beyond near off out up down about after before during until while since as
like than and or but nor so yet if then else when where which who whom whose what how why because
although though unless whether not no never only also even just still very too more most less least
much many few some any each every all both either neither other another such same own
is are was were be been being am has have had having do does did can could may might must shall should
will would one two three
""".split())


def shape(text):
    """The text as shape tokens: function words and punctuation as they are, other words as
    `w` (short), `ww` (long) or `W` (capitalised), numbers as `0`."""
    out = []
    for token in re.findall(r"[A-Za-z]+(?:'[a-z]+)?|\d+|[.,;:!?()\"-]", text):
        lower = token.lower()
        if lower in FUNCTION_WORDS or not token[0].isalnum():
            out.append(lower)
        elif token.isdigit():
            out.append("0")
        elif token[0].isupper() and out and out[-1] not in ".!?":
            out.append("W")
        else:
            out.append("w" if len(token) <= 6 else "ww")
    return out


def shape_classifier_accuracy(generated, real, seeds=5, folds=5):
    """Two-sample test of sentence shapes: the 5-fold cross-validated accuracy of a logistic
    regression on the shape 1- to 4-grams (shape()) telling `generated` texts from `real` ones
    (each a {kind: [text]}), as many of each kind from both sides (0.5: their sentences are
    built alike; matching kinds keeps their mix from telling them apart); the mean over
    `seeds` draws of those texts and folds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    def ngrams(text):
        tokens = shape(text)
        return [" ".join(tokens[i:i + k]) for k in range(1, 5) for i in range(len(tokens) - k + 1)]

    accuracies = []
    for seed in range(seeds):
        rng = random.Random(seed)
        texts, labels = [], []
        for kind in sorted(set(generated) & set(real)):
            n = min(len(generated[kind]), len(real[kind]))
            for label, side in ((1, generated[kind]), (0, real[kind])):
                texts += rng.sample(list(side), n)
                labels += [label] * n
        features = TfidfVectorizer(analyzer=ngrams, min_df=2, sublinear_tf=True).fit_transform(texts)
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
        accuracies.append(cross_val_score(LogisticRegression(max_iter=2000), features, labels, cv=splits).mean())
    return float(sum(accuracies) / len(accuracies))
