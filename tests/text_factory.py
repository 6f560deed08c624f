"""Text folders for tests: clean documents per class and one file for every bad case."""

import codecs
import os

WORDS = {
    "sport": "match goal team player score league coach season win stadium referee cup",
    "tech": "software computer chip network data code server phone internet device app",
    "food": "recipe bake flour sugar oven dinner taste kitchen salad soup bread cheese",
}


def document(class_name: str, index: int, length: int = 12) -> str:
  """A short document of the class's vocabulary, different for every index."""
  words = WORDS[class_name].split()
  picked = [words[(index * 7 + i * 3) % len(words)] for i in range(length)]
  return f"Story {index}: " + " ".join(picked) + "."


def class_folder_corpus(root: str, classes=("sport", "tech", "food"), per_class: int = 20):
  for name in classes:
    os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(per_class):
      with open(os.path.join(root, name, f"{i:03d}.txt"), "w", encoding="utf-8") as f:
        f.write(document(name, i))


# name -> (bytes, expected outcome, reason prefix). Written under one class folder.
CAFE_NFD = "Cafe\u0301 menu: soup bread cheese."
CASES = {
    "utf8.txt": ("Plain UTF-8 — naïve café.".encode("utf-8"), "ingested", ""),
    "utf8_bom.txt": (codecs.BOM_UTF8 + "BOM document here.".encode("utf-8"), "normalised",
                     "utf-8 with BOM"),
    "utf16le.txt": (codecs.BOM_UTF16_LE + "Little endian sixteen.".encode("utf-16-le"),
                    "normalised", "utf-16-le with BOM"),
    "utf16be.txt": (codecs.BOM_UTF16_BE + "Big endian sixteen.".encode("utf-16-be"),
                    "normalised", "utf-16-be with BOM"),
    "utf32le.txt": (codecs.BOM_UTF32_LE + "Thirty two little.".encode("utf-32-le"),
                    "normalised", "utf-32-le with BOM"),
    "utf32be.txt": (codecs.BOM_UTF32_BE + "Thirty two big.".encode("utf-32-be"),
                    "normalised", "utf-32-be with BOM"),
    "latin1.txt": ("Price \u00a3100 for the caf\u00e9 dinner.".encode("cp1252"), "rejected",
                   "not_utf8"),
    "nul.bin": (b"text\0with\0nul bytes", "rejected", "binary"),
    "controls.dat": (bytes(range(1, 9)) * 20 + b"abc", "rejected", "binary"),
    "empty.txt": (b"", "rejected", "empty_text"),
    "spaces.txt": (b"   \n\t  \r\n", "rejected", "empty_text"),
    "nfd.txt": (CAFE_NFD.encode("utf-8"), "normalised", "NFC normalised"),
    "long.txt": (("word " * 400).encode("utf-8"), "normalised", "truncated to 1000 of 2000"),
    "noextension": ("Any file name works; content decides.".encode("utf-8"), "ingested", ""),
}


def write_cases(folder: str) -> None:
  os.makedirs(folder, exist_ok=True)
  for name, (data, _, _) in CASES.items():
    with open(os.path.join(folder, name), "wb") as f:
      f.write(data)
