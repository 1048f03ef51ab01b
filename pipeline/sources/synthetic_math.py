"""Bilingual arithmetic word problems, generated from the seed (no real offline Chinese math exists).

Each unit is one problem set; even units are Chinese, the following odd unit is the same set in
English, so the math domain is also a small parallel corpus. Numbers come from a hash-based
generator (not `random`), so the text is identical on every Python version and platform. All
arithmetic is in integers: answers are exact and every solution shows its steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import Reader, Text, Unit


class HashRng:
    """A tiny deterministic generator: sha256 of (seed, stream, counter)."""

    def __init__(self, *stream: object) -> None:
        self._key = "\x1f".join(map(str, stream)).encode("utf-8")
        self._n = 0

    def randint(self, lo: int, hi: int) -> int:
        self._n += 1
        h = hashlib.sha256(self._key + b"\x1e" + str(self._n).encode()).digest()
        return lo + int.from_bytes(h[:8], "big") % (hi - lo + 1)

    def choice(self, seq: list | tuple):  # type: ignore[no-untyped-def,type-arg]
        return seq[self.randint(0, len(seq) - 1)]


NAMES = [("小明", "Tom"), ("小红", "Anna"), ("李华", "Li Hua"), ("王芳", "Maria"), ("张伟", "David"),
         ("刘洋", "Emma"), ("陈静", "Sam"), ("赵磊", "Lucy"), ("周杰", "Ben"), ("孙丽", "Grace")]
# (Chinese noun, measure word, English plural)
ITEMS = [("苹果", "个", "apples"), ("铅笔", "支", "pencils"), ("故事书", "本", "storybooks"),
         ("糖果", "颗", "candies"), ("邮票", "张", "stamps"), ("气球", "个", "balloons"),
         ("鸡蛋", "个", "eggs"), ("贴纸", "张", "stickers"), ("橘子", "个", "oranges"), ("练习本", "本", "notebooks")]

Problem = tuple[str, str]  # (zh, en), each "question\nsolution"


def _add(r: HashRng) -> Problem:
    (zn, en), (zi, m, ei) = r.choice(NAMES), r.choice(ITEMS)
    a, b = r.randint(12, 480), r.randint(5, 260)
    return (f"{zn}有{a}{m}{zi}，又买了{b}{m}。{zn}现在一共有多少{m}{zi}？\n解：{a} + {b} = {a + b}。答：一共有{a + b}{m}{zi}。",
            f"{en} has {a} {ei} and buys {b} more. How many {ei} does {en} have now?\n"
            f"Solution: {a} + {b} = {a + b}. Answer: {a + b} {ei}.")


def _sub(r: HashRng) -> Problem:
    (zn, en), (zi, m, ei) = r.choice(NAMES), r.choice(ITEMS)
    a = r.randint(40, 900)
    b = r.randint(3, a - 1)
    return (f"{zn}有{a}{m}{zi}，送给同学{b}{m}后，还剩多少{m}？\n解：{a} - {b} = {a - b}。答：还剩{a - b}{m}{zi}。",
            f"{en} has {a} {ei} and gives {b} of them to classmates. How many are left?\n"
            f"Solution: {a} - {b} = {a - b}. Answer: {a - b} {ei} are left.")


def _mul(r: HashRng) -> Problem:
    (zi, m, ei) = r.choice(ITEMS)
    boxes, per = r.randint(3, 48), r.randint(4, 36)
    return (f"每箱装{per}{m}{zi}，{boxes}箱一共有多少{m}？\n解：{per} × {boxes} = {per * boxes}。答：一共有{per * boxes}{m}{zi}。",
            f"Each box holds {per} {ei}. How many {ei} are there in {boxes} boxes?\n"
            f"Solution: {per} × {boxes} = {per * boxes}. Answer: {per * boxes} {ei}.")


def _div(r: HashRng) -> Problem:
    (zi, m, ei) = r.choice(ITEMS)
    kids = r.randint(3, 12)
    total = kids * r.randint(3, 40) + r.randint(0, kids - 1)
    q, rem = divmod(total, kids)
    zh_tail = f"还剩{rem}{m}。" if rem else "正好分完。"
    en_tail = f"with {rem} left over." if rem else "with none left over."
    return (f"把{total}{m}{zi}平均分给{kids}个小朋友，每人分到多少{m}？还剩几{m}？\n"
            f"解：{total} ÷ {kids} = {q} 余 {rem}。答：每人分到{q}{m}，{zh_tail}",
            f"{total} {ei} are shared equally among {kids} children. How many does each child get, and how many are left?\n"
            f"Solution: {total} ÷ {kids} = {q} remainder {rem}. Answer: each child gets {q}, {en_tail}")


def _price(r: HashRng) -> Problem:
    (zn, en), (zi, m, ei) = r.choice(NAMES), r.choice(ITEMS)
    price, qty = r.randint(2, 35), r.randint(2, 12)
    cost = price * qty
    paid = next(n for n in (20, 50, 100, 200, 500) if n >= cost)
    return (f"{zi}每{m}{price}元，{zn}买了{qty}{m}，付了{paid}元，应找回多少元？\n"
            f"解：{price} × {qty} = {cost}（元），{paid} - {cost} = {paid - cost}（元）。答：应找回{paid - cost}元。",
            f"{ei.capitalize()} cost {price} yuan each. {en} buys {qty} and pays with {paid} yuan. How much change does {en} get?\n"
            f"Solution: {price} × {qty} = {cost} yuan; {paid} - {cost} = {paid - cost} yuan. Answer: {paid - cost} yuan.")


def _speed(r: HashRng) -> Problem:
    speed, hours = r.randint(4, 95), r.randint(2, 9)
    return (f"一辆车每小时行驶{speed}千米，{hours}小时能行驶多少千米？\n解：{speed} × {hours} = {speed * hours}（千米）。答：能行驶{speed * hours}千米。",
            f"A car travels {speed} kilometres per hour. How far does it travel in {hours} hours?\n"
            f"Solution: {speed} × {hours} = {speed * hours} km. Answer: {speed * hours} kilometres.")


def _discount(r: HashRng) -> Problem:
    price = 20 * r.randint(3, 60)
    off = r.choice([10, 20, 25, 50])
    cut = price * off // 100
    zhe = {10: "九折", 20: "八折", 25: "七五折", 50: "五折"}[off]
    return (f"一件衣服原价{price}元，现在打{zhe}（便宜{off}%），现价是多少元？\n"
            f"解：{price} × {off}% = {cut}（元），{price} - {cut} = {price - cut}（元）。答：现价{price - cut}元。",
            f"A coat costs {price} yuan and is now {off}% off. What is the sale price?\n"
            f"Solution: {price} × {off}% = {cut} yuan; {price} - {cut} = {price - cut} yuan. Answer: {price - cut} yuan.")


def _rectangle(r: HashRng) -> Problem:
    a, b = r.randint(3, 60), r.randint(2, 45)
    return (f"一个长方形长{a}米，宽{b}米，它的面积和周长各是多少？\n"
            f"解：面积 = {a} × {b} = {a * b}（平方米）；周长 = ({a} + {b}) × 2 = {2 * (a + b)}（米）。答：面积{a * b}平方米，周长{2 * (a + b)}米。",
            f"A rectangle is {a} m long and {b} m wide. What are its area and perimeter?\n"
            f"Solution: area = {a} × {b} = {a * b} m²; perimeter = ({a} + {b}) × 2 = {2 * (a + b)} m. "
            f"Answer: area {a * b} m², perimeter {2 * (a + b)} m.")


def _average(r: HashRng) -> Problem:
    zn, en = r.choice(NAMES)
    n = r.randint(3, 5)
    mean = r.randint(60, 95)
    scores = [mean + r.randint(-8, 8) for _ in range(n - 1)]
    scores.append(mean * n - sum(scores))
    s = " + ".join(map(str, scores))
    return (f"{zn}{n}次测验的成绩分别是{'、'.join(map(str, scores))}分，平均成绩是多少分？\n"
            f"解：({s}) ÷ {n} = {mean * n} ÷ {n} = {mean}（分）。答：平均成绩是{mean}分。",
            f"{en} scored {', '.join(map(str, scores))} on {n} tests. What is the average score?\n"
            f"Solution: ({s}) ÷ {n} = {mean * n} ÷ {n} = {mean}. Answer: the average is {mean}.")


def _saving(r: HashRng) -> Problem:
    zn, en = r.choice(NAMES)
    per, target = r.randint(5, 40), r.randint(60, 900)
    weeks = -(-target // per)
    return (f"{zn}每周存{per}元，要存够{target}元，至少需要多少周？\n"
            f"解：{target} ÷ {per} = {target // per} 余 {target % per}，余数不为零时要多存一周，所以需要{weeks}周。答：至少需要{weeks}周。"
            if target % per else
            f"{zn}每周存{per}元，要存够{target}元，至少需要多少周？\n解：{target} ÷ {per} = {weeks}。答：至少需要{weeks}周。",
            f"{en} saves {per} yuan a week. How many weeks does it take to save at least {target} yuan?\n"
            + (f"Solution: {target} ÷ {per} = {target // per} remainder {target % per}, so one more week is needed: {weeks} weeks. "
               if target % per else f"Solution: {target} ÷ {per} = {weeks}. ")
            + f"Answer: {weeks} weeks.")


def _fraction(r: HashRng) -> Problem:
    (zn, en), (zi, m, ei) = r.choice(NAMES), r.choice(ITEMS)
    k = r.randint(2, 8)
    n = k * r.randint(2, 30)
    part = n // k
    return (f"{zn}有{n}{m}{zi}，用掉了其中的{k}分之一，用掉了多少{m}？还剩多少{m}？\n"
            f"解：{n} ÷ {k} = {part}，{n} - {part} = {n - part}。答：用掉{part}{m}，还剩{n - part}{m}。",
            f"{en} has {n} {ei} and uses one {_ordinal(k)} of them. How many are used and how many are left?\n"
            f"Solution: {n} ÷ {k} = {part}; {n} - {part} = {n - part}. Answer: {part} used, {n - part} left.")


def _age(r: HashRng) -> Problem:
    (zn, en) = r.choice(NAMES)
    child = r.randint(6, 15)
    diff = r.randint(22, 38)
    years = r.randint(2, 10)
    total = 2 * child + diff + 2 * years
    return (f"今年{zn}{child}岁，妈妈比{zn}大{diff}岁。{years}年后两人的年龄和是多少岁？\n"
            f"解：妈妈今年{child} + {diff} = {child + diff}岁；{years}年后年龄和为{child} + {child + diff} + {years} × 2 = {total}（岁）。答：{total}岁。",
            f"{en} is {child} years old and {en}'s mother is {diff} years older. What will their ages add up to in {years} years?\n"
            f"Solution: the mother is {child} + {diff} = {child + diff}; in {years} years the sum is "
            f"{child} + {child + diff} + {years} × 2 = {total}. Answer: {total} years.")


def _ordinal(k: int) -> str:
    return {2: "half", 3: "third", 4: "quarter", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth"}[k]


KINDS: list[Callable[[HashRng], Problem]] = [_add, _sub, _mul, _div, _price, _speed, _discount, _rectangle,
                                             _average, _saving, _fraction, _age]


def problem_set(seed: int, index: int, size: int) -> tuple[str, str]:
    """The index-th problem set for a seed: (Chinese text, English text) with the same numbers."""
    r = HashRng("synthetic-math", seed, index)
    zh, en = [f"数学练习 第{index + 1}组"], [f"Math practice, set {index + 1}"]
    for i in range(size):
        z, e = r.choice(KINDS)(r)
        zh.append(f"第{i + 1}题：{z}")
        en.append(f"Problem {i + 1}: {e}")
    return "\n\n".join(zh), "\n\n".join(en)


@dataclass
class MathOptions:
    sets: int = 20000
    problems_per_set: int = 6


class SyntheticMath(Reader):
    """Units are problem sets in order (generated text needs no random unit order)."""

    Options = MathOptions
    ordered = True

    def units(self) -> list[Unit]:
        generated = Path("<generated>")
        return [Unit(f"set-{i:06d}", generated, 0) for i in range(2 * self.opts.sets)]

    def fingerprint(self, units: list[Unit]) -> str:
        return hashlib.sha256(repr((self.seed, self.opts.sets, self.opts.problems_per_set)).encode()).hexdigest()[:16]

    def texts(self, unit: Unit) -> Iterator[Text]:
        i = int(unit.key.split("-")[1])
        zh, en = problem_set(self.seed, i // 2, self.opts.problems_per_set)
        yield (Text(zh, unit.key, "zh") if i % 2 == 0 else Text(en, unit.key, "en"))
