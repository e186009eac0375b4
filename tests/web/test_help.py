"""Public help articles behind the widget's "查看原文" link: published documents of the
inbox's workspace only, escaped."""

from __future__ import annotations

from kefu.kb.documents import do_delete_document, do_import_document

DOC = """# 冷链配送说明

## 签收

请在签收时当面开箱检查。<script>window.__pwned = 1</script>
"""


def test_article_is_public_escaped_and_scoped(app_client, world, uows):
    with uows() as uow:
        doc = do_import_document(uow, world.admin_wang, data=DOC.encode(),
                                 filename="guide.md")
        doc_id = doc.id
    r = app_client.get(f"/help/{world.inbox_a}/articles/{doc_id}")
    assert r.status_code == 200
    assert "冷链配送说明" in r.text and "请在签收时当面开箱检查" in r.text
    assert "<script>window.__pwned" not in r.text
    # another workspace's inbox, an unknown id, a deleted document: the same 404
    for url in (f"/help/{world.inbox_b}/articles/{doc_id}",
                f"/help/{world.inbox_a}/articles/000000000000000000000000",
                f"/help/000000000000000000000000/articles/{doc_id}"):
        assert app_client.get(url).status_code == 404, url
    with uows() as uow:
        do_delete_document(uow, world.admin_wang, doc_id)
    assert app_client.get(f"/help/{world.inbox_a}/articles/{doc_id}").status_code == 404
