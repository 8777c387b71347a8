"""Imports the example article into answerlog, edits a section, and prints
its history: the answerlog API from Python, with stubs that grpcio-tools
generated from proto/ (run.sh generates them).

    python history.py --server 127.0.0.1:50051 --token TOKEN ../what-causes-jmt.md
"""

import argparse
import tomllib
import uuid

import grpc

from answerlog.v1 import answerlog_pb2 as pb
from answerlog.v1 import answerlog_pb2_grpc as rpc


def draft_from(path):
    """The import format: TOML front matter between +++ lines, then the
    question as '# ...', '## Quick Answer', '## Key Facts' and sections."""
    text = open(path, encoding="utf-8").read()
    _, front, body = text.split("+++\n", 2)
    meta = tomllib.loads(front)
    blocks, heading = {}, None
    order = []
    for line in body.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            order.append(heading)
            blocks[heading] = []
        elif heading is not None:
            blocks[heading].append(line)
    text_of = lambda h: "\n".join(blocks.get(h, [])).strip()
    facts = [l[2:].strip() for l in blocks.get("Key Facts", []) if l.startswith("- ")]
    # The question: the front matter's, else the '# ' line.
    title = next((l[2:].strip() for l in body.splitlines() if l.startswith("# ")), "")
    question = meta.get("question") or title
    sections = [
        pb.SectionDraft(heading=h, body=text_of(h))
        for h in order
        if h not in ("Quick Answer", "Key Facts")
    ]
    return pb.ArticleDraft(
        slug=meta.get("slug", ""),
        question=question,
        quick_answer=text_of("Quick Answer"),
        key_facts=facts,
        sections=sections,
        sources=[source_from(s) for s in meta.get("sources", [])],
        last_updated=str(meta["last_updated"]),
        provenance=pb.Provenance(
            ai_assisted=meta.get("ai_assisted", False),
            generator=meta.get("generator", ""),
        ),
        disclaimer=meta.get("disclaimer", ""),
    )


def source_from(entry):
    """A [[sources]] entry of the import format: its keys are the Source
    message's, except `accessed` (a TOML date), which is `accessed_on`."""
    return pb.Source(
        title=entry["title"],
        publisher=entry["publisher"],
        url=entry.get("url", ""),
        license=entry["license"],
        accessed_on=str(entry.get("accessed", "")),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--token", help="a bearer token (role writer)")
    parser.add_argument("article", help="a file in the import format")
    args = parser.parse_args()
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []

    with grpc.insecure_channel(args.server) as channel:
        articles = rpc.ArticleServiceStub(channel)
        answers = rpc.AnswerServiceStub(channel)
        audit = rpc.AuditServiceStub(channel)

        draft = draft_from(args.article)
        created = articles.CreateArticle(
            pb.CreateArticleRequest(
                command_id=str(uuid.uuid4()),
                reason="Imported from Python",
                article=draft,
            ),
            metadata=metadata,
        )
        print(f"created {created.article_id} version {created.version}")
        for source in draft.sources:
            if source.accessed_on:
                print(f"source {source.title!r} accessed on {source.accessed_on}")

        answer = answers.GetAnswer(
            pb.GetAnswerRequest(id=created.article_id), metadata=metadata
        ).answer
        section = answer.sections[0]
        edited = articles.EditSection(
            pb.EditSectionRequest(
                article_id=created.article_id,
                expected_version=created.version,
                command_id=str(uuid.uuid4()),
                reason="Tighten the first section",
                section_id=section.id,
                body=section.body.split("\n\n")[0],
            ),
            metadata=metadata,
        )
        print(f"edited section {section.id}: version {edited.version}")

        # The history, read once the edit is applied (min_position).
        history = audit.ListRevisions(
            pb.ListRevisionsRequest(
                id=created.article_id, min_position=edited.global_position
            ),
            metadata=metadata,
        )
        print(f"history of {answer.slug}:")
        for r in history.revisions:
            kinds = ", ".join(r.event_kinds)
            print(f"  v{r.version}  pos {r.global_position}  {r.actor}  {kinds}  {r.reason}")


if __name__ == "__main__":
    main()
