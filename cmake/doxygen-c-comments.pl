#!/usr/bin/perl
# Doxygen INPUT_FILTER for the public headers (docs/Doxyfile.in): they are documented with plain /* */ comments,
# which Doxygen would ignore. Prints the header with, in place and keeping every line where it was:
#   - the comment that opens the file            /*  ->  /** @file    (the header's description)
#   - a comment after code on the same line       /*  ->  /**<        (a member's, enum value's or macro's)
#   - a comment on its own lines, directly above a declaration or #define (no blank line between)
#                                                 /*  ->  /**         (what follows it)
# Section rulers (/* ---- keys ---- */), comments followed by a blank line, and comments after #if/#endif stay
# plain comments.
use strict;
use warnings;

local $/;
my $text = <>;
my $first = 1;
$text =~ s{(^|(?<=\n))([^\n]*?)/\*(?![*!])(.*?)\*/([^\n]*\n?)(?=([^\n]*))}{
  my ($before, $body, $after, $next) = ($2, $3, $4, $5);
  my $open = '/*';
  if ($first && $before =~ /^\s*$/) {
    $open = '/** @file';
  } elsif ($before =~ /\S/) {
    $open = '/**<' unless $before =~ /^\s*#\s*(?:if|ifdef|ifndef|else|elif|endif|include)\b/;
  } elsif ($body !~ /^\s*-/ && $after =~ /^\s*$/ && $next =~ /\S/ && $next !~ /^\s*(?:\/\*|#\s*(?:if|ifdef|ifndef|else|elif|endif|include)\b|[{}]|extern\b)/) {
    $open = '/**';
  }
  $first = 0;
  "$before$open$body*/$after";
}gse;
print $text;
