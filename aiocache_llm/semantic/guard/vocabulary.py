"""The word lists of the precision guard: number words, units, negations, contrasts, stopwords.

Written for English and general (no list of entities): the guard compares what two questions
ask through these lists (see :mod:`aiocache_llm.semantic.guard`).
"""

from __future__ import annotations

__all__ = [
    "AUXILIARY_OF",
    "FILLERS",
    "OPPOSITE_PREFIXES",
    "DERIVATIONS",
    "IMPERSONAL",
    "PERSONAL",
    "ROMAN_NUMERALS",
    "AMBIGUOUS_UNITS",
    "CLOSED_CLASSES",
    "CONTRASTS",
    "CONTRAST_OF",
    "DIRECTION_WORDS",
    "NEGATED_STEMS",
    "NEGATIONS",
    "NUMBER_WORDS",
    "SOURCE_MARKERS",
    "STOPWORDS",
    "TIME_UNITS",
    "UNITS",
    "WH_KINDS",
]

NUMBER_WORDS = {
    word: i
    for i, word in enumerate(
        (  # noqa: SIM905
            "zero one two three four five six seven eight nine ten eleven twelve thirteen"
            " fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        ).split()
    )
}
NUMBER_WORDS.update(
    {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "dozen": 12}
)

#: Roman numerals of two letters or more, up to 20 ("World War III", "Henry VIII"); "i", "v"
#: and "x" alone are words or letters far more often than numbers.
ROMAN_NUMERALS = {
    word: i + 2
    for i, word in enumerate(
        "ii iii iv v vi vii viii ix x xi xii xiii xiv xv xvi xvii xviii xix xx".split()  # noqa: SIM905
    )
    if len(word) > 1
}

#: surface form -> canonical unit
UNITS: dict[str, str] = {}
for _canon, _forms in {
    "celsius": "c celsius centigrade °c",
    "fahrenheit": "f fahrenheit °f",
    "kelvin": "k kelvin kelvins",
    "km": "km kms kilometer kilometers kilometre kilometres",
    "mile": "mi mile miles",
    "m": "m meter meters metre metres",
    "cm": "cm centimeter centimeters centimetre centimetres",
    "mm": "mm millimeter millimeters millimetre millimetres",
    "inch": "in. inch inches",
    "foot": "ft foot feet",
    "yard": "yd yard yards",
    "kg": "kg kgs kilo kilos kilogram kilograms kilogramme kilogrammes",
    "g": "g gram grams gramme grammes",
    "lb": "lb lbs pound pounds",
    "oz": "oz ounce ounces",
    "stone": "st stone stones",
    "ton": "ton tons tonne tonnes",
    "l": "l liter liters litre litres",
    "ml": "ml milliliter milliliters millilitre millilitres",
    "gallon": "gal gallon gallons",
    "quart": "qt quart quarts",
    "pint": "pt pint pints",
    "cup": "cup cups",
    "tbsp": "tbsp tablespoon tablespoons",
    "tsp": "tsp teaspoon teaspoons",
    "kmh": "km/h kmh kph",
    "mph": "mph",
    "usd": "usd dollar dollars $",
    "eur": "eur euro euros €",
    "gbp": "gbp sterling £",
    "jpy": "jpy yen",
    "cny": "cny yuan rmb",
    "inr": "inr rupee rupees",
    "chf": "chf franc francs",
    "btc": "btc bitcoin bitcoins",
    "percent": "% percent percentage",
    "second": "s sec secs second seconds",
    "minute": "min mins minute minutes",
    "hour": "h hr hrs hour hours",
    "day": "day days",
    "week": "week weeks",
    "month": "month months",
    "year": "year years",
    "byte": "byte bytes",
    "kb": "kb kib kilobyte kilobytes",
    "mb": "mb mib megabyte megabytes",
    "gb": "gb gib gigabyte gigabytes",
    "tb": "tb tib terabyte terabytes",
    "watt": "w watt watts",
    "kw": "kw kilowatt kilowatts",
    "hp": "hp horsepower",
    "calorie": "cal kcal calorie calories",
    "joule": "j joule joules",
    "acre": "acre acres",
    "hectare": "ha hectare hectares",
}.items():
    for _form in _forms.split():
        UNITS[_form] = _canon
#: Short unit symbols that are ordinary words or letters elsewhere: units only next to a number.
AMBIGUOUS_UNITS = frozenset(
    {"c", "f", "k", "m", "g", "l", "s", "h", "w", "j", "st", "in.", "pt", "cup", "cups"}
)
#: Time words are units only right after a number ("3 days", not "what year", "per day").
TIME_UNITS = frozenset({"second", "minute", "hour", "day", "week", "month", "year"})
#: Words after which a unit is the quantity given ("in a pound", "per tablespoon").
SOURCE_MARKERS = frozenset({"a", "an", "per", "each", "every", "one"})

NEGATIONS = frozenset(
    {
        "avoid",  # negative-implicative: "avoid X" is "do not X"
        "avoids",
        "refrain",
        "not",
        "no",
        "never",
        "n't",
        "without",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "cannot",
        "non",
        "cant",
        "dont",
        "doesnt",
        "isnt",
        "arent",
        "wont",
        "shouldnt",
        "didnt",
    }
)
#: Contractions whose negation the tokenizer splits off: "doesn't" -> "doesn" "n't" / "t".
NEGATED_STEMS = frozenset(
    {
        "don",
        "doesn",
        "didn",
        "isn",
        "aren",
        "wasn",
        "weren",
        "won",
        "can",
        "couldn",
        "shouldn",
        "wouldn",
        "haven",
        "hasn",
        "hadn",
        "mustn",
    }
)

#: Negated auxiliaries as one form: "won't" and "doesn't" ask the same ("won" -> "will").
AUXILIARY_OF = {
    "don": "do",
    "doesn": "does",
    "didn": "did",
    "isn": "is",
    "aren": "are",
    "wasn": "was",
    "weren": "were",
    "won": "will",
    "couldn": "could",
    "shouldn": "should",
    "wouldn": "would",
    "haven": "have",
    "hasn": "has",
    "hadn": "had",
    "mustn": "must",
}
#: Prefixes that turn a word into its opposite ("refundable" / "non-refundable", "unsafe").
OPPOSITE_PREFIXES = ("non", "un", "dis", "in", "im", "il", "ir", "self")
#: Who a question is about, when it is the asker ("can I ..." / "can my child ...").
PERSONAL = frozenset({"i", "me", "my", "we", "us", "our", "mine"})
#: An impersonal or passive frame names no one else: "can I ..." / "is it possible to ...",
#: "do I need" / "are ... needed".
IMPERSONAL = frozenset({"it", "there", "is", "are", "be", "been", "was", "were"})
#: Derivational suffixes and what they replace, to find a word's root ("quotation" -> "quote",
#: "waiting" -> "wait", "agency" -> "agent"); agent nouns ("-er") change the meaning.
DERIVATIONS = (
    ("ation", "e"),
    ("ation", ""),
    ("ition", "e"),
    ("ion", ""),
    ("ion", "e"),
    ("ing", ""),
    ("ing", "e"),
    ("ed", ""),
    ("ed", "e"),
    ("ment", ""),
    ("ness", ""),
    ("ity", ""),
    ("ncy", "nt"),
    ("ee", ""),
    ("nce", "nt"),
)
#: Openers that add nothing to a question ("hi, quick one: ...").
FILLERS = frozenset(
    """hi hello hey quick question thanks thank cheers please one ok okay so um uh er erm hmm
    well right cheer""".split()  # noqa: SIM905
)

#: Groups of words with the same sense; each pair of groups below is a contrast.
CONTRASTS: list[tuple[str, str]] = [
    (
        "start starts started starting begin begins began begun beginning commence outbreak",
        "end ends ended ending finish finishes finished finishing conclude concluded",
    ),
    ("open opens opened opening", "close closes closed closing"),
    ("on", "off"),
    ("in", "out"),
    ("am.", "pm."),
    ("sunrise dawn", "sunset dusk"),
    ("max maximum maximal highest high higher", "min minimum minimal lowest low lower"),
    (
        "advantage advantages benefit benefits pro pros",
        "disadvantage disadvantages drawback drawbacks downside downsides con cons",
    ),
    (  # a quantity up or down, whether by a verb or a comparative ("pay more" / "pay less")
        "increase increases increased increasing raise enlarge grow bigger larger more most",
        "decrease decreases decreased decreasing reduce lower shrink smaller less least fewer"
        " fewest cut",
    ),
    ("win wins won winning winner winners victory", "lose loses lost losing loser losers defeat"),
    ("first earliest", "last latest final"),
    ("buy buys bought buying purchase", "sell sells sold selling"),
    ("import imports imported importing", "export exports exported exporting"),
    ("read reads reading reader", "write writes wrote writing writer"),
    ("hot hotter hottest warm warmest heat", "cold colder coldest cool coolest"),
    (
        "good better best healthy excellent outstanding great",
        "bad worse worst unhealthy harmful poor inadequate terrible",
    ),
    ("soft", "hard"),
    ("ascending asc increasing", "descending desc decreasing"),
    ("freeze freezes freezing frozen", "boil boils boiling melt melts melting"),
    ("north northern", "south southern"),
    ("east eastern", "west western"),
    ("up upward upwards", "down downward downwards"),
    ("before prior", "after"),
    ("early earlier", "late later"),
    ("largest biggest", "smallest tiniest"),
    ("tallest", "shortest"),
    ("longest", "shortest"),
    ("fastest quickest", "slowest"),
    ("upload uploads uploading", "download downloads downloading"),
    ("encrypt encryption encrypting", "decrypt decryption decrypting"),
    ("encode encoding", "decode decoding"),
    ("compress compression", "decompress decompression extract"),
    ("add adds adding", "remove removes removing delete deletes deleting"),
    ("enable enables enabling", "disable disables disabling"),
    ("install installs installing", "uninstall uninstalls uninstalling"),
    ("push pushes pushing", "pull pulls pulling"),
    ("input inputs", "output outputs"),
    ("send sends sending sent", "receive receives receiving received"),
    ("lend lends lending", "borrow borrows borrowing"),
    ("arrive arrives arrival arrivals", "depart departs departure departures leave"),
    ("positive", "negative"),
    ("true", "false"),
    ("legal", "illegal"),
    ("safe safer safest", "dangerous unsafe"),
    ("cheap cheaper cheapest", "expensive pricey"),
    ("rich richest wealthy", "poor poorest"),
    ("young younger youngest", "old older oldest"),
    ("male men man boys boy", "female women woman girls girl"),
    ("above over", "below under"),
    ("inside indoor indoors", "outside outdoor outdoors"),
    ("accept accepts accepted", "reject rejects rejected"),
    ("deposit deposits", "withdraw withdraws withdrawal"),
    ("pass passes passed", "fail fails failed failing"),
    ("morning", "evening night"),
    ("summer", "winter"),
    ("left", "right"),
    ("odd", "even"),
    ("plus add addition", "minus subtract subtraction"),
    ("multiply multiplication", "divide division"),
    ("uppercase upper", "lowercase lower"),
    ("serialize serialise serialization", "deserialize deserialise deserialization"),
    ("zip", "unzip"),
    ("lock locks", "unlock unlocks"),
    ("connect connects", "disconnect disconnects"),
    ("subscribe", "unsubscribe"),
    ("show shows", "hide hides"),
    ("login log", "logout"),
    ("enter entry", "exit"),
    ("love loves", "hate hates"),
    ("include includes included including", "exclude excludes excluded excluding"),
    ("gain gains gaining", "lose loses losing"),
    ("strengthen", "weaken"),
    ("wet", "dry"),
    ("full", "empty"),
    ("heavy heaviest", "lightest"),
    ("thick", "thin"),
    ("wide", "narrow"),
    ("strong strongest", "weak weakest"),
    # permission, assent and membership
    (
        "allow allows allowed permit permits permitted",
        "ban bans banned forbid forbidden prohibit prohibits prohibited",
    ),
    (
        "accept accepts accepted approve approves approved",
        "decline declines declined refuse refuses refused deny denies denied",
    ),
    ("grant grants granted", "revoke revokes revoked"),
    ("join joins joined", "leave leaves quit quits"),
    ("pause pauses paused suspend suspended", "resume resumes resumed"),
    ("compulsory mandatory required", "optional voluntary"),
    ("busy busiest crowded", "quiet quietest"),
    ("within during", "after outside"),
    ("weekday weekdays", "weekend weekends"),
    ("spicy hot", "mild"),
    # converse roles: the same relation seen from its other side
    ("landlord landlords", "tenant tenants"),
    ("employer employers", "employee employees"),
    ("buyer buyers", "seller sellers"),
    ("lender lenders", "borrower borrowers"),
    ("teacher teachers", "student students pupil pupils"),
    ("parent parents", "child children"),
    ("host hosts", "guest guests"),
    ("sender senders", "recipient recipients"),
]
#: Closed classes: any two members differ ("turn 4 in August" / "in October", "tomorrow" /
#: "on Friday", "breakfast" / "dinner"), however alike their sentences embed.
CLOSED_CLASSES: dict[str, int] = {}
for _n, _members in enumerate(
    (
        # no "may", "mar", "sat", "sun", "wed", "fall": words more often than dates
        "january jan february feb march april apr june jun july jul august aug september sep"
        " sept october oct november nov december dec",
        "monday mon tuesday tue tues wednesday thursday thu thurs friday fri saturday sunday"
        " today tomorrow yesterday tonight",  # plurals read as their singular (stem)
        "spring summer autumn winter",
        "breakfast brunch lunch dinner supper",
        "red orange yellow green blue purple pink brown black white grey gray",
        "first second third fourth fifth sixth seventh eighth ninth tenth",
    )
):
    for _w in _members.split():
        CLOSED_CLASSES[_w] = _n
CONTRAST_OF: dict[str, set[int]] = {}
for _i, (_a, _b) in enumerate(CONTRASTS):
    for _w in _a.split():
        CONTRAST_OF.setdefault(_w, set()).add(2 * _i)
    for _w in _b.split():
        CONTRAST_OF.setdefault(_w, set()).add(2 * _i + 1)
#: Prepositions that make word order meaningful ("string to integer", "London to New York").
DIRECTION_WORDS = frozenset({"to", "from", "into", "than", "over", "before", "after", "vs"})
#: Question words that ask for different kinds of answer; "what", "which", "how" are neutral.
WH_KINDS = {
    "who": "person",
    "whom": "person",
    "whose": "person",
    "where": "place",
    "when": "time",
    "why": "reason",
}

STOPWORDS = (
    frozenset(
        """a an the is are was were be been being am do does did doing done have has had having
    i me my we our you your he she it its they them their this that these those there here
    what which who whom whose when where why how whats hows wheres whos s t d ll re ve m
    of in on at by for with about as into onto through during than then so such
    and or but if because while can could would should will shall may might must
    to from
    please tell explain give show me know want need like just also really very much many
    way ways thing things kind sort type some any all each every other another
    simple simply quick quickly easy easily best good proper correct right exactly
    number amount value get got make makes use using used find out up
    vs versus etc e g ie eg""".split()  # noqa: SIM905
    )
    - NEGATIONS
)
