"""Writes the benchmark texts as JSON Lines: every ML-100K item text ("Title (year). Genres:
..."), then the first 5,000 Women's reviews when the shared data is present."""
import csv
import json
import os
import sys

data, shared = sys.argv[1], sys.argv[2]
with open(os.path.join(data, "ml-100k.item"), encoding="utf-8") as f:
    next(f)
    for line in f:
        p = line.rstrip("\n").split("\t")
        print(json.dumps(f"{p[1]} ({p[2]}). Genres: {p[3]}"))
reviews = os.path.join(shared, "data", "widedeep", "womens_clothing_reviews.csv")
if os.path.exists(reviews):
    with open(reviews, encoding="utf-8") as f:
        n = 0
        for row in csv.DictReader(f):
            if row["Review Text"].strip() and n < 5000:
                print(json.dumps(row["Review Text"]))
                n += 1
