"""The reviewer's pages: list, detail, decide, start agents."""
