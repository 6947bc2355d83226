#!/usr/bin/env python3
"""Writes redaction_eval.tsv: hand-written sentences (English and Chinese) filled with
fake personal data and hard negatives. The labels come from this script, which builds
each value with its own checksum code (independent of the Rust crate).

Columns: text <TAB> expected, where expected is `kind=value` items joined by ` ;; `,
or `-` when the line holds no personal data. For URL credentials the value is the
`user:password` part, the part the redactor masks.

Run: python3 gen_redaction_eval.py > redaction_eval.tsv   (seeded, reproducible)
"""
import random

R = random.Random(16)

SURNAMES = ["zhang", "wang", "li", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu",
            "smith", "jones", "garcia", "miller", "davis", "martin", "brown", "lopez"]
GIVEN = ["wei", "fang", "na", "min", "jing", "lei", "yan", "tao", "anna", "john", "maria",
         "li.na", "omar", "sofia", "lucas", "emma", "noah", "mei"]
DOMAINS = ["example.com", "example.cn", "example.org", "mail.example.net", "test.com.cn",
           "163.com", "qq.com", "gmail.com", "outlook.com", "uni-example.edu", "foxmail.com"]


def email():
    s, g = R.choice(SURNAMES), R.choice(GIVEN)
    local = R.choice([f"{g}.{s}", f"{s}{g}", f"{g}_{s}{R.randint(1, 99)}", f"{s}.{g}+shop",
                      f"{R.randint(100000, 999999999)}", f"{g[0]}{s}", f"{s}-{g}"])
    return local + "@" + R.choice(DOMAINS)


def digits(n):
    return "".join(R.choice("0123456789") for _ in range(n))


def cn_mobile():
    return R.choice(["13", "15", "17", "18", "19", "14", "16"]) + R.choice("0123456789") + digits(8)


def phone():
    m = cn_mobile()
    f = R.randrange(17)
    if f == 0: return m
    if f == 1: return f"{m[:3]} {m[3:7]} {m[7:]}"
    if f == 2: return f"{m[:3]}-{m[3:7]}-{m[7:]}"
    if f == 3: return f"+86 {m[:3]} {m[3:7]} {m[7:]}"
    if f == 4: return f"+86{m}"
    if f == 5: return f"+86-{m}"
    if f == 6: return R.choice(["010", "021", "020", "0755", "0571", "028"]) + "-" + R.choice("2345678") + digits(7)
    if f == 7: return "(" + R.choice(["010", "021", "0755"]) + ")" + R.choice("2345678") + digits(7)
    if f == 8: return f"({R.randint(201, 989)}) 555-01{digits(2)}"
    if f == 9: return f"{R.randint(201, 989)}-555-01{digits(2)}"
    if f == 10: return f"+1 {R.randint(201, 989)} 555 01{digits(2)}"
    if f == 11: return f"1-800-555-01{digits(2)}"
    if f == 12: return f"+44 20 7946 0{digits(3)}"
    if f == 13: return f"07700 900{digits(3)}"
    if f == 14: return f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}"
    if f == 15: return f"+49 30 {R.randint(1000000, 99999999)}"
    return f"0086 {m[:3]} {m[3:7]} {m[7:]}"


def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9: v -= 9
        total += v
    return body + str((10 - total % 10) % 10)


def card_digits():
    brand = R.randrange(6)
    if brand == 0: return luhn_complete("4", 16)
    if brand == 1: return luhn_complete(str(R.randint(51, 55)), 16)
    if brand == 2: return luhn_complete(R.choice(["34", "37"]), 15)
    if brand == 3: return luhn_complete("62" + digits(2), 16)
    if brand == 4: return luhn_complete("6011", 16)
    return luhn_complete(str(R.randint(3528, 3589)), 16)


def fmt_card(d):
    f = R.randrange(3)
    if len(d) == 15:
        parts = [d[:4], d[4:10], d[10:]]
    else:
        parts = [d[i:i + 4] for i in range(0, len(d), 4)]
    if f == 0: return d
    return (" " if f == 1 else "-").join(parts)


def card():
    return fmt_card(card_digits())


def bad_card():
    d = card_digits()
    last = str((int(d[-1]) + R.randint(1, 9)) % 10)
    return fmt_card(d[:-1] + last)


IBAN_BBAN = {"DE": lambda: digits(18), "GB": lambda: R.choice(["NWBK", "BARC", "HBUK"]) + digits(14),
             "FR": lambda: digits(10) + "".join(R.choice("ABCDEFGHJK0123456789") for _ in range(11)) + digits(2),
             "NL": lambda: R.choice(["ABNA", "INGB", "RABO"]) + digits(10), "ES": lambda: digits(20),
             "IT": lambda: R.choice("ABCX") + digits(10) + digits(12), "CH": lambda: digits(17)}


def iban_check(cc, bban):
    s = bban + cc + "00"
    n = int("".join(str(int(c, 36)) for c in s))
    return f"{98 - n % 97:02d}"


def iban_compact():
    cc = R.choice(list(IBAN_BBAN))
    bban = IBAN_BBAN[cc]()
    return cc + iban_check(cc, bban) + bban


def fmt_iban(s):
    return s if R.random() < 0.4 else " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def iban():
    return fmt_iban(iban_compact())


def bad_iban():
    s = iban_compact()
    return fmt_iban(s[:2] + f"{(int(s[2:4]) + R.randint(1, 40)) % 97 + 2:02d}"[:2] + s[4:])


PROVINCES = ["11", "12", "13", "31", "32", "33", "35", "37", "41", "42", "43", "44", "45", "50", "51", "61", "65"]
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def cn_id_body():
    y = R.randint(1950, 2006)
    m = R.randint(1, 12)
    d = R.randint(1, 28)
    return R.choice(PROVINCES) + f"{R.randint(1, 9):02d}{R.randint(1, 30):02d}" + f"{y}{m:02d}{d:02d}" + digits(3)


def cn_check(body):
    return "10X98765432"[sum(int(a) * w for a, w in zip(body, W)) % 11]


def cn_id():
    b = cn_id_body()
    return b + cn_check(b)


def bad_cn_id():
    b = cn_id_body()
    good = cn_check(b)
    return b + R.choice([c for c in "0123456789X" if c != good])


def ipv4():
    return R.choice([f"192.168.{R.randint(0, 255)}.{R.randint(1, 254)}", f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
                     f"{R.randint(11, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}", f"172.{R.randint(16, 31)}.{R.randint(0, 255)}.{R.randint(1, 254)}"])


def hexg():
    return f"{R.randint(0, 0xffff):x}"


def ipv6():
    f = R.randrange(5)
    if f == 0: return "2001:db8::" + hexg()
    if f == 1: return "fe80::" + ":".join(hexg() for _ in range(4))
    if f == 2: return ":".join(hexg() for _ in range(8))
    if f == 3: return f"2001:db8:{hexg()}:{hexg()}::{R.randint(1, 99)}"
    return f"::ffff:192.0.2.{R.randint(1, 254)}"


def url_cred():
    user = R.choice(["admin", "root", "deploy", "bob", "li.wei", "svc_rec", "zhang"])
    pw = R.choice(["hunter2", "P@ss", "s3cr3t!", "Tr0ub4dor", "pw_" + digits(4), "qwerty123", "changeme"])
    pw = pw.replace("@", "")
    scheme = R.choice(["https", "http", "ftp", "postgres", "redis", "mysql"])
    host = R.choice(["db.example.com", "files.example.org", "cache.internal.example", "repo.example.cn"])
    tail = R.choice(["/", "/data", ":5432/app", "/export.csv", ""])
    return f"{scheme}://{user}:{pw}@{host}{tail}", f"{user}:{pw}"


def isbn13():
    body = "978" + R.choice(["7", "0", "1"]) + digits(8)
    c = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
    s = body + str(c)
    return f"{s[:3]}-{s[3]}-{s[4:7]}-{s[7:12]}-{s[12]}" if R.random() < 0.5 else s


def date():
    y, m, d = R.randint(1990, 2026), R.randint(1, 12), R.randint(1, 28)
    return R.choice([f"{y}-{m:02d}-{d:02d}", f"{y}/{m:02d}/{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{y}年{m}月{d}日", f"{m}/{d}/{y}"])


def time_():
    return R.choice([f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}", f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d}"])


def price():
    return R.choice([f"¥{R.randint(9, 9999)}.{R.randint(0, 99):02d}", f"${R.randint(1, 2999)}.99", f"{R.randint(1, 999)},{R.randint(0, 999):03d}元",
                     f"€{R.randint(1, 999)},{R.randint(0, 99):02d}", f"RMB {R.randint(100, 99999)}"])


def order():
    return R.choice([f"{R.randint(2019, 2026)}{R.randint(1, 12):02d}{R.randint(1, 28):02d}{digits(R.choice([8, 10, 11]))}",
                     f"ORD-{digits(8)}", f"SF{digits(12)}", f"JD{digits(14)}", f"#{digits(6)}", f"{digits(4)}-{digits(4)}-{digits(4)}"])


def version():
    return R.choice([f"v{R.randint(0, 5)}.{R.randint(0, 30)}.{R.randint(0, 9)}", f"{R.randint(1, 3)}.{R.randint(0, 99)}.{R.randint(0, 99)}",
                     f"Chrome {R.randint(100, 130)}.0.{R.randint(4000, 6999)}.{R.randint(10, 200)}", f"iOS {R.randint(14, 18)}.{R.randint(0, 6)}", f"Android {R.randint(9, 15)}"])


def item():
    return R.choice([f"item_{digits(6)}", f"B0{digits(2)}{''.join(R.choice('ABCDEFGHJKLMNPQRSTUVWXYZ0123456789') for _ in range(6))}",
                     f"SKU{digits(10)}", f"{R.randint(100000, 99999999)}", f"movie/{R.randint(1, 1682)}"])


POS = {"email": email, "phone": phone, "card": card, "iban": iban, "cn_id": cn_id, "ipv4": ipv4, "ipv6": ipv6}
NEG = {"date": date, "time": time_, "price": price, "order": order, "version": version, "isbn": isbn13,
       "badcard": bad_card, "badid": bad_cn_id, "badiban": bad_iban, "item": item,
       "year": lambda: str(R.randint(1950, 2026)), "n": lambda: str(R.randint(2, 500))}

TEMPLATES = [
    # English, with personal data
    "Loved it! Email me at {email} if you want my copy.",
    "Delivery was late; call me on {phone} before {time} please.",
    "Charged twice to card {card} for order {order}, refund please.",
    "My number changed to {phone}, the old one was {phone}.",
    "Send the invoice to {email} and cc {email}.",
    "Refund to IBAN {iban}, account holder as on file.",
    "Logged in from {ipv4} at {time} and the page froze.",
    "The app shows my IPv6 {ipv6} in the settings page, is that normal?",
    "Our team exported the catalogue with {urlcred} as in the wiki.",
    "Paid with {card} on {date}, price was {price}.",
    "Contact: {email} / {phone}",
    "Seller never replied to {email}; item {item} arrived broken.",
    "Great soundtrack, reminded me of {year}. Reach me: {phone}",
    "Watched it {n} times since {date}. My card {card} was billed {price} though.",
    "Server {ipv4} returned 500 for order {order}.",
    "ID card 身份证 {cn_id} was needed for the ticket, strange.",
    "Wire to {iban} (ref {order}) done on {date}.",
    "Mirror at {urlcred} is faster than the main site.",
    "Home router {ipv4}, laptop {ipv6}, still no stream.",
    "Tel. {phone} | Mail {email} | Updated {date}",
    # Chinese, with personal data
    "有问题请联系我，手机{phone}，微信同号。",
    "快递员打了{phone}没人接，麻烦改成{phone}。",
    "我的邮箱是{email}，请把发票发过来。",
    "身份证号{cn_id}，实名认证一直失败。",
    "用卡号{card}付的款，订单号{order}，还没到账。",
    "退款请打到{iban}，谢谢。",
    "登录地址显示{ipv4}，不是我本人操作。",
    "这部电影{year}年上映，推荐！有事发邮件到{email}",
    "客服电话{phone}一直占线，{time}再打也不行。",
    "实名信息：{cn_id}，联系电话{phone}。",
    "信用卡{card}被扣了{price}，订单{order}。",
    "数据库连接串{urlcred}不要发到群里。",
    "我的IPv6地址{ipv6}，是不是泄露了？",
    "收件人手机：{phone}；邮箱：{email}；日期：{date}",
    "卡号：{card}，有效期到{date}",
    "发货地址保密，电话{phone}，身份证{cn_id}",
    "乘车人身份证{cn_id}，座位{n}号。",
    "开户人证件号码：{cn_id}；预留手机：{phone}",
    "Passenger ID {cn_id}, seat {n}A, contact {email}.",
    "Card on file: {card}, expires {n}/{n}.",
    "支付卡{card}，流水号{order}。",
    # negatives only
    "Released on {date}, runtime {n} minutes, rated {n}/10.",
    "Bought for {price} on {date}; order {order}.",
    "Updated to {version} and the crash is gone.",
    "ISBN {isbn}, paperback, {n} pages.",
    "Order {order} shipped {date} {time}.",
    "Tried card ending in {n}, the number {badcard} was rejected (typo).",
    "The form says {badid} is not a valid ID, which is right, I mistyped.",
    "IBAN {badiban} bounced, wrong check digits.",
    "Item {item} is back in stock at {price}.",
    "Season {n}, episode {n}: best since {year}.",
    "{date} {time} 到货，订单号{order}，价格{price}。",
    "版本{version}修复了闪退，{year}年最好的应用。",
    "商品编号{item}，{n}件起批，单价{price}。",
    "这本书ISBN {isbn}，{date}出版。",
    "第{n}集太好看了，{date}更新。",
    "卡号{badcard}输错了，系统提示无效。",
    "身份证号{badid}校验不通过。",
    "物流单号{order}，预计{date}送达。",
    "Score was {n}:{n} at {time}, what a match.",
    "Screen 1920x1080, {n}Hz, {price}.",
]

HAND = [
    ("Meet me at 10:30 on 2024-01-15, tickets were $12.50 each.", []),
    ("John 3:16 is quoted in chapter 12.", []),
    ("Aspect ratio 16:9, 4K, HDR10, 120 Hz.", []),
    ("Call 555-0132 is not a full number.", []),
    ("订单2024011512345678已发货。", []),
    ("版本1.2.3发布于2023年12月。", []),
    ("价格从¥1,299降到¥999，省了300元。", []),
    ("The Rust path std::net::IpAddr parses it.", []),
    ("Stock code 600519 closed at 1,688.00.", []),
    ("Use v2.10.4 or newer; 2.9.x is broken.", []),
    ("Reviews: 4.5/5 from 12,345 users since 2019.", []),
    ("MAC 00:1A:2B:3C:4D:5E is printed on the box.", []),
    ("Coordinates 39.9042, 116.4074 (Beijing).", []),
    ("Flight CA1234 leaves 08:45, gate 12.", []),
    ("Order ORD-20240115-0042 is ready.", []),
    ("Email support@example.com, not a person but still masked.", [("email", "support@example.com")]),
    ("我的手机是13912345678，邮箱13912345678@163.com。", [("phone", "13912345678"), ("email", "13912345678@163.com")]),
    ("Postgres at postgres://reader:r3ad0nly@db.example.com:5432/rec.", [("url_credentials", "reader:r3ad0nly")]),
    ("Card 4111 1111 1111 1111 is the test Visa.", [("card", "4111 1111 1111 1111")]),
    ("Amex 3782 822463 10005 charged.", [("card", "3782 822463 10005")]),
    ("身份证：11010519491231002X（测试号码）", [("cn_id", "11010519491231002X")]),
    ("GB29 NWBK 6016 1331 9268 19 is the sample UK IBAN.", [("iban", "GB29 NWBK 6016 1331 9268 19")]),
    ("Ping 8.8.8.8 and 2001:4860:4860::8888 both fail.", [("ipv4", "8.8.8.8"), ("ipv6", "2001:4860:4860::8888")]),
    ("Landline (010)62751234, mobile 186-0000-1234.", [("phone", "(010)62751234"), ("phone", "186-0000-1234")]),
    ("UK office 020 7946 0958, US office (212) 555-0147.", [("phone", "020 7946 0958"), ("phone", "(212) 555-0147")]),
    ("Tel: +44 (0)20 7946 0011", [("phone", "+44 (0)20 7946 0011")]),
    ("Numbers 0755-86001234 and +86 755 8600 1234 reach the same desk.", [("phone", "0755-86001234"), ("phone", "+86 755 8600 1234")]),
    ("联系我：zhangwei@example.cn 或者 wang.fang@example.com", [("email", "zhangwei@example.cn"), ("email", "wang.fang@example.com")]),
    ("IP 10.0.0.1:8080 and 10.0.0.0/8 are internal.", [("ipv4", "10.0.0.1"), ("ipv4", "10.0.0.0")]),
    ("ISBN 978-7-111-54742-6 with 19.99 price.", []),
]


def fill(template):
    labels = []

    def repl(key):
        if key == "urlcred":
            url, cred = url_cred()
            labels.append(("url_credentials", cred))
            return url
        if key in POS:
            v = POS[key]()
            labels.append((key, v))
            return v
        return NEG[key]()

    out, i = [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        k = template.index("}", j)
        out.append(template[i:j])
        out.append(repl(template[j + 1:k]))
        i = k + 1
    return "".join(out), labels


def row(text, labels):
    exp = " ;; ".join(f"{k}={v}" for k, v in labels) if labels else "-"
    return f"{text}\t{exp}"


def main():
    print("text\texpected")
    for text, labels in HAND:
        print(row(text, labels))
    for rep in range(8):
        for t in TEMPLATES:
            print(row(*fill(t)))


main()
