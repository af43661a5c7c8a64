#!/usr/bin/python3
"""grading_pipeline.py -- an example longtask `exec` handler: the 8-stage homework
grading pipeline of DESIGN.md, with the agent calls replaced by deterministic rules so
it runs anywhere with the Python 3 standard library.

Protocol (longtask's exec contract):
  stdin   the task's payload, one JSON object:
            {"student": "...", "answers": [...], "rubric"?: [...], "options"?: {...}}
          an answer is a string or {"question": id, "text": "..."}; a rubric entry is
          {"question": id, "points": n, "keywords": ["...", ...], "expected"?: "..."}
          (without a rubric every answer is worth 10 points, judged by its length).
          options: {"fail_transient": true} simulates an upstream outage (exit 75,
          longtask retries); {"stage_delay_s": x} slows every stage (for cancel demos).
  stdout  one JSON object per line: {"progress": n, "message": "[NN%] Stage: ..."} per
          stage, then {"result": {...}}
  stderr  diagnostics; its tail becomes the task's error on failure
  exit    0 done, 75 transient failure (retry), 2 invalid input (permanent)

Configure it as a type, e.g.
  { name = "grade.homework"; handler = "exec"; queue = "default"; timeout_s = 600;
    command = ["/usr/bin/python3", "/opt/longtask/examples/grading_pipeline.py"];
    env = ["LANG=C.UTF-8"]; cpu_s = 300; memory_mb = 1024; }
"""

import json
import sys
import time

EX_TEMPFAIL = 75
EX_INVALID = 2

STAGES = [
    (5, "orchestrate", "planning the grading run"),
    (15, "parse", "parsing the submission"),
    (25, "rubric", "loading the rubric"),
    (40, "analyse", "analysing each answer"),
    (55, "check", "checking for plagiarism and consistency"),
    (75, "grade", "scoring against the rubric"),
    (90, "aggregate", "aggregating scores and feedback"),
    (100, "done", "grading complete"),
]


class InvalidInput(Exception):
    pass


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def report(stage_index, detail=None, delay=0.0):
    pct, name, text = STAGES[stage_index]
    if delay > 0:
        time.sleep(delay)
    msg = "[%d%%] %s: %s" % (pct, name.capitalize(), detail or text)
    emit({"progress": pct, "message": msg})
    return {"stage": name, "progress": pct, "message": msg}


def read_payload():
    raw = sys.stdin.read()
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("payload is not JSON: %s" % exc)
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object")
    return payload


def parse_submission(payload):
    student = payload.get("student")
    if not isinstance(student, str) or not student.strip():
        raise InvalidInput("student must be a non-empty string")
    answers = payload.get("answers")
    if not isinstance(answers, list) or not answers:
        raise InvalidInput("answers must be a non-empty list")
    parsed = []
    for i, a in enumerate(answers):
        if isinstance(a, str):
            parsed.append({"question": str(i + 1), "text": a})
        elif isinstance(a, dict) and isinstance(a.get("text"), str):
            parsed.append({"question": str(a.get("question", i + 1)), "text": a["text"]})
        else:
            raise InvalidInput("answers[%d] must be a string or {question, text}" % i)
    return student.strip(), parsed


def load_rubric(payload, answers):
    rubric = payload.get("rubric")
    if rubric is None:
        return {a["question"]: {"points": 10, "keywords": [], "expected": None}
                for a in answers}
    if not isinstance(rubric, list):
        raise InvalidInput("rubric must be a list")
    out = {}
    for i, r in enumerate(rubric):
        if not isinstance(r, dict) or "question" not in r:
            raise InvalidInput("rubric[%d] must be an object with a question" % i)
        points = r.get("points", 10)
        keywords = r.get("keywords", [])
        if not isinstance(points, (int, float)) or points < 0 or \
                not isinstance(keywords, list) or \
                not all(isinstance(k, str) for k in keywords):
            raise InvalidInput("rubric[%d]: points must be >= 0, keywords strings" % i)
        out[str(r["question"])] = {"points": points, "keywords": keywords,
                                   "expected": r.get("expected")}
    return out


def analyse(answer):
    text = answer["text"]
    words = [w.strip(".,;:!?()").lower() for w in text.split()]
    return {"words": len(words), "vocabulary": set(w for w in words if w)}


def grade_one(answer, facts, rule):
    points = rule["points"]
    notes = []
    if rule["keywords"]:
        hit = [k for k in rule["keywords"] if k.lower() in facts["vocabulary"]]
        missing = [k for k in rule["keywords"] if k not in hit]
        score = points * len(hit) / len(rule["keywords"])
        if missing:
            notes.append("missing: " + ", ".join(missing))
    else:
        score = points * min(facts["words"], 20) / 20
        if facts["words"] < 20:
            notes.append("answer is short (%d words)" % facts["words"])
    expected = rule.get("expected")
    if isinstance(expected, str) and expected.strip().lower() == answer["text"].strip().lower():
        score = points
        notes = []
    score = round(score, 2)
    feedback = "full marks" if score == points else ("; ".join(notes) or "partial credit")
    return {"question": answer["question"], "score": score, "max_score": points,
            "feedback": feedback}


def main():
    try:
        payload = read_payload()
    except InvalidInput as exc:
        print("invalid input: %s" % exc, file=sys.stderr)
        return EX_INVALID
    options = payload.get("options") or {}
    delay = float(options.get("stage_delay_s", 0) or 0) if isinstance(options, dict) else 0.0
    stages = []
    try:
        stages.append(report(0, delay=delay))
        student, answers = parse_submission(payload)
        stages.append(report(1, "%d answers from %s" % (len(answers), student), delay))
        rubric = load_rubric(payload, answers)
        stages.append(report(2, "%d rubric entries" % len(rubric), delay))
    except InvalidInput as exc:
        print("invalid input: %s" % exc, file=sys.stderr)
        return EX_INVALID

    if isinstance(options, dict) and options.get("fail_transient"):
        print("grading model unavailable (simulated upstream outage); try again later",
              file=sys.stderr)
        return EX_TEMPFAIL

    facts = {a["question"]: analyse(a) for a in answers}
    stages.append(report(3, delay=delay))
    texts = {}
    duplicates = []
    for a in answers:
        key = " ".join(a["text"].lower().split())
        if key and key in texts:
            duplicates.append([texts[key], a["question"]])
        texts.setdefault(key, a["question"])
    stages.append(report(4, "%d duplicate answers" % len(duplicates), delay))
    questions = []
    for a in answers:
        rule = rubric.get(a["question"], {"points": 0, "keywords": [], "expected": None})
        questions.append(grade_one(a, facts[a["question"]], rule))
    stages.append(report(5, delay=delay))
    score = round(sum(q["score"] for q in questions), 2)
    max_score = round(sum(r["points"] for r in rubric.values()), 2)
    stages.append(report(6, "%s / %s" % (score, max_score), delay))
    stages.append(report(7, delay=delay))
    emit({"result": {
        "student": student,
        "score": score,
        "max_score": max_score,
        "percent": round(100.0 * score / max_score, 1) if max_score else 0.0,
        "questions": questions,
        "duplicates": duplicates,
        "stages": [{"stage": s["stage"], "progress": s["progress"]} for s in stages],
    }})
    return 0


if __name__ == "__main__":
    sys.exit(main())
