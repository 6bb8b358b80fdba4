{#- Which of a person's records gives an attribute: the most trusted source, then the latest,
    as one 64-bit sort key for arg_min(value, key). Source priority 1-6 (bits 60-62), undated
    last (bit 59), newest first (inverted whole seconds since 1970, bits 27-58, good until
    2106), then 27 bits of a hash of the record id for a deterministic tie-break. The
    row_number() window it replaced held every record in memory beside the aggregate: out of
    memory at 5 M people under a 3 GB limit; 64 bits, not 128, make each arg_min state 8
    bytes smaller (docs/benchmarks.md). int_persons and int_social_accounts_linked pick with
    it, so the declared accounts are the persons'. -#}
{% macro person_record_rank(relation) -%}
    (cast({{ relation }}.source_priority as bigint) << 60)
    + (cast({{ relation }}.observed_at is null as bigint) << 59)
    + (
        (
            4294967295
            - least(greatest(coalesce(epoch_us({{ relation }}.observed_at), 0) // 1000000, 0), 4294967295)
        )
        << 27
    )
    + cast(hash({{ relation }}.record_id) >> 37 as bigint)
{%- endmacro %}
