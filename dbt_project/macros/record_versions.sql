{#-
    The versions of a staged record, for the models that resume (macros/resume_state.sql).
    A record re-delivered by its source (a CRM edit, an RSVP cancelled) replaces its staged
    row, and the row it replaces is gone: a resuming model cannot tell which persons the old
    row belonged to. Two columns tell it enough:
    - first_loaded_at: when the record's key was first staged (each newer version keeps it);
    - identified_at: since when the record carries the identifiers it has now (a newer version
      carrying the same ones keeps it, one with other ones starts it again).
    A record replaced since a model's state whose identified_at is not after that state had
    the same identifiers then: its persons are those of its identifiers now, which the model
    computes again as for a new record. Any other replacement makes it compute everything.
    On a first build (or a full refresh) every row starts both at its own loaded_at.
-#}
{% macro record_versions(relation, key, identifiers) -%}
    select
        {{ relation }}.*,
    {%- if is_incremental() %}
        coalesce(previous.first_loaded_at, {{ relation }}.loaded_at) as first_loaded_at,
        case
            when previous.{{ key }} is not null
                {%- for column in identifiers %}
                and ({{ relation }}.{{ column }} is not distinct from previous.{{ column }})
                {%- endfor %}
                then previous.identified_at
            else {{ relation }}.loaded_at
        end as identified_at
    from {{ relation }}
    left join {{ this }} as previous on {{ relation }}.{{ key }} = previous.{{ key }}
    {%- else %}
        {{ relation }}.loaded_at as first_loaded_at,
        {{ relation }}.loaded_at as identified_at
    from {{ relation }}
    {%- endif %}
{%- endmacro %}
