"""Writes the sample files of the sequence models by baking samples.kiln.ron with `kiln`:

    python3 models/train/sequence_samples.py

models/kiln_flavour/samples.md (text to read) and models/kiln_melody/sample.wav + sample.mid
(a 4-bar loop to hear), with the seeds that made them.
"""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import REPO


def main():
    with tempfile.TemporaryDirectory() as tmp:
        recipes = Path(tmp) / "recipes"
        recipes.mkdir()
        shutil.copy(REPO / "models/train/samples.kiln.ron", recipes)
        out = Path(tmp) / "out"
        subprocess.run(["cargo", "run", "--release", "--quiet", "--", "bake", str(recipes), "--out", str(out), "--ep", "cpu"],
                       check=True, cwd=REPO)
        lines = ["# kiln_flavour samples", "",
                 "Baked by `python3 models/train/sequence_samples.py` from `models/train/samples.kiln.ron`",
                 "(seed 100, default sampling). Text includes material from the SRD 5.1 (CC-BY-4.0), the",
                 "Basic Fantasy RPG Core Rules (CC-BY-SA-4.0) and Cataclysm: Dark Days Ahead (CC-BY-SA-3.0);",
                 "see the model's manifest for the attribution.", ""]
        for entry in sorted(p.name for p in (out / "samples").iterdir() if (p / "strings.json").exists()):
            table = json.loads((out / "samples" / entry / "strings.json").read_text())
            lines += [f"## {entry}", ""]
            for key, value in table.items():
                lines += [f"- **{value['name']}** (`{key}`): {value['text']}"]
            lines.append("")
        (REPO / "models/kiln_flavour/samples.md").write_text("\n".join(lines))
        shutil.copy(out / "samples/loop/0.wav", REPO / "models/kiln_melody/sample.wav")
        shutil.copy(out / "samples/loop/0.mid", REPO / "models/kiln_melody/sample.mid")


if __name__ == "__main__":
    main()
