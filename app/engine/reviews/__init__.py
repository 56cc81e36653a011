"""Blind reviews: answers shown under letters in an order of their own for each reviewer and
case (`order`), and what the votes add up to, with how sure that is (`tally`)."""
