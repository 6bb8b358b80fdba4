{#- The action kinds int_engagement_actions emits. Each needs a row in the action_points seed, or
    fct_engagement leaves its actions out: tests/assert_every_action_type_has_points.sql checks
    the seed against this list, where a relationships test on the view computed every action
    (3 s of the full build at 1 M people, 26 s at 5 M). -#}
{% macro engagement_action_types() -%}
    {{ return([
        'rsvp', 'volunteer_shift', 'attendance', 'canvass_door', 'facebook_comment', 'facebook_reaction',
        'x_mention', 'x_reply', 'x_quote', 'x_retweet',
    ]) }}
{%- endmacro %}

{#- One kind as a SQL literal: a kind missing from the list above fails the compilation. -#}
{% macro action_type(kind) -%}
    {%- if kind not in engagement_action_types() -%}
        {{ exceptions.raise_compiler_error("action type " ~ kind ~ " is missing from engagement_action_types()") }}
    {%- endif -%}
    '{{ kind }}'
{%- endmacro %}
