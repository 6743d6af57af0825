"""Writes the two small example CSV files used by experiments/csv_*.yaml (deterministic; run to regenerate).

houses.csv    — regression: price (in $100,000) from rooms, area, age and a text column `district`;
                some cells are empty, as in real exports.
customers.csv — classification with text labels: which `plan` a customer picks, from age, monthly usage
                and a text column `country`; some cells are NA.
"""

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent


def houses(rows: int = 600) -> None:
    rng = random.Random(7)
    premium = {"riverside": 0.9, "centre": 0.6, "suburbs": 0.0, "industrial": -0.4}
    with open(HERE / "houses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rooms", "area", "age", "district", "price"])
        for i in range(rows):
            rooms = rng.randint(1, 7)
            area = round(rng.uniform(25, 220), 1)
            age = rng.randint(0, 90)
            district = rng.choice(list(premium))
            price = 0.4 + 0.15 * rooms + 0.012 * area - 0.006 * age + premium[district] + rng.gauss(0, 0.15)
            cells = [rooms, area, age, district, round(price, 3)]
            if i % 19 == 0:
                cells[1] = ""  # area not recorded
            if i % 31 == 0:
                cells[3] = ""  # district unknown
            writer.writerow(cells)


def customers(rows: int = 600) -> None:
    rng = random.Random(11)
    with open(HERE / "customers.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age", "monthly_hours", "devices", "country", "plan"])
        for i in range(rows):
            age = rng.randint(18, 80)
            hours = round(rng.uniform(0, 120), 1)
            devices = rng.randint(1, 6)
            country = rng.choice(["DE", "FR", "IT", "ES"])
            score = 0.03 * hours + 0.5 * devices - 0.02 * age + (0.8 if country == "DE" else 0) + rng.gauss(0, 0.4)
            plan = "basic" if score < 1.0 else "family" if score < 2.6 else "premium"
            cells = [age, hours, devices, country, plan]
            if i % 23 == 0:
                cells[1] = "NA"
            writer.writerow(cells)


if __name__ == "__main__":
    houses()
    customers()
